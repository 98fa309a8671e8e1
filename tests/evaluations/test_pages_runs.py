"""The evaluation-run pages: list, run page, progress JSON, retry / cancel / delete, roles, isolation,
the form that starts a run from the trace explorer's filter, and the judge's figures on the trace page."""

import re

import pytest
from django.test import Client

from evaluations.models import EvalRun, EvalRunStatus, EvalTarget, TraceScore
from evaluations.services import runs
from pandaprobe.projects.access import ProjectAccess
from tests.factories import TraceFactory, TraceScoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(client, admin_user) -> Client:
    client.force_login(admin_user)
    return client


@pytest.fixture
def as_reviewer(reviewer) -> Client:
    client = Client()
    client.force_login(reviewer)
    return client


@pytest.fixture
def as_outsider(outsider) -> Client:
    client = Client()
    client.force_login(outsider)
    return client


@pytest.fixture
def traces(project):
    return [TraceFactory(project=project, name=f"agent-{i}", tags=["prod"], input="hi", output="hello")
            for i in range(3)]  # fmt: skip


def make_run(project, traces, metrics=("confidence",), **fields) -> EvalRun:
    access = ProjectAccess.system(project)
    run = runs.eval_run_create_batch(access=access, trace_ids=[t.pk for t in traces], metrics=list(metrics))
    if fields:
        EvalRun.objects.filter(pk=run.pk).update(**fields)
        run.refresh_from_db()
    return run


def process_all(run) -> None:
    for target_id in EvalTarget.objects.filter(run=run).values_list("pk", flat=True):
        runs.eval_target_process(target_id=target_id)
    run.refresh_from_db()


def new_run_url(project) -> str:
    return f"/app/p/{project.pk}/runs/new/"


def explorer_ids(client, project, query: str) -> set[str]:
    response = client.get(f"/app/p/{project.pk}/traces/?{query}")
    assert response.status_code == 200
    return set(re.findall(r'data-trace-id="([^"]+)"', response.content.decode()))


def target_ids(run) -> set[str]:
    return {str(t) for t in EvalTarget.objects.filter(run=run).values_list("trace_id", flat=True)}


# --- list ------------------------------------------------------------------------------------------


def test_list_shows_the_projects_runs_newest_first_with_their_figures(
    as_reviewer, project, other_project, traces, judge_stub
):
    older = make_run(project, traces[:1], name="older")
    newer = make_run(project, traces, name="newer", status=EvalRunStatus.RUNNING, evaluated_count=2,
                     failed_count=1, judge_calls=4, prompt_tokens=1200, completion_tokens=300, cost=0.0123,
                     unpriced_calls=2, model="stub-judge")  # fmt: skip
    make_run(other_project, [TraceFactory(project=other_project)], name="theirs")
    html = as_reviewer.get(f"/app/p/{project.pk}/runs/").content.decode()
    assert html.index("newer") < html.index("older") and "theirs" not in html
    row = html[html.index(f'data-run-id="{newer.pk}"') : html.index(f'data-run-id="{older.pk}"')]
    assert '<progress max="3" value="2"' in row and "66</span> %" in row
    assert "1</span> failed" in row and ">4<" in row and "1200 + 300" in row
    assert "$0.0123" in row and "2</span> unpriced call(s)" in row and "stub-judge" in row
    assert (
        "trace</span>" in row and "running" in row and f'href="/app/p/{project.pk}/runs/{newer.pk}/"' in row
    )
    assert f'href="/app/p/{project.pk}/runs/"' in html  # the navigation's Runs link


def test_list_does_not_assume_trace_runs(as_reviewer, project, traces, judge_stub):
    run = make_run(project, traces[:1], target_type="SESSION", name="by session")
    html = as_reviewer.get(f"/app/p/{project.pk}/runs/").content.decode()
    assert "by session" in html and 'badge kind">session</span>' in html
    assert as_reviewer.get(f"/app/p/{project.pk}/runs/{run.pk}/").status_code == 200


def test_list_filters_by_status_and_paginates(as_reviewer, project, traces, judge_stub):
    for i in range(27):
        make_run(
            project, traces[:1], name=f"run-{i}", status=EvalRunStatus.COMPLETED if i == 0 else "PENDING"
        )
    first = as_reviewer.get(f"/app/p/{project.pk}/runs/").content.decode()
    assert first.count("data-run-id=") == 25 and "Page 1 of 2 · 27 runs" in first
    assert as_reviewer.get(f"/app/p/{project.pk}/runs/?page=2").content.decode().count("data-run-id=") == 2
    completed = as_reviewer.get(f"/app/p/{project.pk}/runs/?status=COMPLETED").content.decode()
    assert completed.count("data-run-id=") == 1 and "run-0<" in completed
    bad = as_reviewer.get(f"/app/p/{project.pk}/runs/?status=DONE")
    assert bad.status_code == 400 and "DONE" in bad.content.decode()


def test_list_query_count_does_not_grow_with_runs(
    admin, project, traces, judge_stub, django_assert_max_num_queries
):
    make_run(project, traces)
    admin.get(f"/app/p/{project.pk}/runs/")  # the first visit makes the project current (a session write)
    with django_assert_max_num_queries(8) as few:
        assert admin.get(f"/app/p/{project.pk}/runs/").status_code == 200
    for _ in range(20):
        make_run(project, traces)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert admin.get(f"/app/p/{project.pk}/runs/").status_code == 200


# --- run page and progress -------------------------------------------------------------------------


def test_run_page_shows_figures_metrics_filters_and_scores(as_reviewer, project, traces, judge_stub):
    run = make_run(project, traces, metrics=("confidence", "task_completion"))
    process_all(run)
    html = as_reviewer.get(f"/app/p/{project.pk}/runs/{run.pk}/").content.decode()
    assert "completed" in html and '<progress max="3" value="3"' in html and "100</span> %" in html
    assert "confidence" in html and "task_completion" in html and "3 trace(s) listed by id" in html
    assert (
        html.count("data-score-id=") == 6
        and f'href="/app/p/{project.pk}/traces/{traces[0].pk}/#scores"' in html
    )
    assert "data-run-progress" in html and "data-finished" in html and "js/runs.js" in html
    assert "Cancel run" not in html and "Delete run" not in html  # a reviewer gets no buttons


def test_run_page_paginates_scores(as_reviewer, project, traces, judge_stub):
    run = make_run(project, traces)
    for i in range(52):
        TraceScoreFactory(trace=traces[i % 3], name=f"metric-{i}", eval_run=run, source="AUTOMATED")
    first = as_reviewer.get(f"/app/p/{project.pk}/runs/{run.pk}/").content.decode()
    assert first.count("data-score-id=") == 50 and "Page 1 of 2 · 52 scores" in first
    assert (
        as_reviewer.get(f"/app/p/{project.pk}/runs/{run.pk}/?page=2").content.decode().count("data-score-id=")
        == 2
    )


def test_admin_gets_the_buttons_while_the_run_works(admin, project, traces, judge_stub):
    run = make_run(project, traces, failed_count=1)
    html = admin.get(f"/app/p/{project.pk}/runs/{run.pk}/").content.decode()
    for action in ("cancel", "retry", "delete"):
        form = html[html.index(f'action="/app/p/{project.pk}/runs/{run.pk}/{action}/"') :][:400]
        assert 'method="post"' in html and "csrfmiddlewaretoken" in form
    assert "data-finished" not in html and 'name="delete_scores"' in html


def test_progress_json_follows_the_run(as_reviewer, project, traces, judge_stub):
    run = make_run(project, traces)
    body = as_reviewer.get(f"/app/p/{project.pk}/runs/{run.pk}/progress").json()
    assert (body["id"], body["status"], body["finished"], body["percent"]) == (
        str(run.pk),
        "PENDING",
        False,
        0,
    )
    assert body["evaluated_count"] == 0 and body["total_targets"] == 3 and body["completed_at"] == "–"
    process_all(run)
    response = as_reviewer.get(f"/app/p/{project.pk}/runs/{run.pk}/progress")
    body = response.json()
    assert (body["status"], body["finished"], body["percent"], body["evaluated_count"]) == (
        "COMPLETED",
        True,
        100,
        3,
    )
    assert body["judge_calls"] == 3 and body["cost"].startswith("$") and body["unpriced_calls"] == 3
    assert "no-cache" in response["Cache-Control"]


def test_another_projects_run_is_404_on_every_run_route(
    as_outsider, admin, project, other_project, traces, judge_stub
):
    run = make_run(project, traces)
    control = make_run(other_project, [TraceFactory(project=other_project)])
    theirs, ours = f"/app/p/{other_project.pk}/runs", f"/app/p/{project.pk}/runs"
    for suffix in ("", "progress"):
        assert as_outsider.get(f"{theirs}/{control.pk}/{suffix}").status_code == 200  # the control
        # The run under the outsider's project, and under its own (the outsider is no member).
        assert as_outsider.get(f"{theirs}/{run.pk}/{suffix}").status_code == 404
        assert as_outsider.get(f"{ours}/{run.pk}/{suffix}").status_code == 404
    assert "Not found" in as_outsider.get(f"{theirs}/{run.pk}/").content.decode()  # the product's page
    for action in ("retry", "cancel", "delete"):
        assert as_outsider.post(f"{theirs}/{run.pk}/{action}/").status_code == 404
        assert as_outsider.post(f"{ours}/{run.pk}/{action}/").status_code == 404
    assert EvalRun.objects.get(pk=run.pk).status == EvalRunStatus.PENDING
    assert as_outsider.post(f"{theirs}/{control.pk}/cancel/").status_code == 302  # the control
    assert EvalRun.objects.get(pk=control.pk).status == EvalRunStatus.CANCELLED


def test_a_reviewer_cannot_write_and_changes_nothing(as_reviewer, project, traces, judge_stub):
    run = make_run(project, traces, failed_count=1)
    for action in ("retry", "cancel", "delete"):
        assert as_reviewer.post(f"/app/p/{project.pk}/runs/{run.pk}/{action}/").status_code == 403
    assert EvalRun.objects.count() == 1 and EvalRun.objects.get().status == EvalRunStatus.PENDING
    assert as_reviewer.get(new_run_url(project)).status_code == 403
    assert (
        as_reviewer.post(
            new_run_url(project), {"metrics": ["confidence"], "sampling_rate": "1", "action": "start"}
        ).status_code
        == 403
    )
    assert "Evaluate these traces" not in as_reviewer.get(f"/app/p/{project.pk}/traces/").content.decode()
    assert EvalRun.objects.count() == 1


# --- retry, cancel, delete ---------------------------------------------------------------------------


def test_cancel_then_cancel_again_says_why(admin, project, traces, judge_stub):
    run = make_run(project, traces)
    response = admin.post(f"/app/p/{project.pk}/runs/{run.pk}/cancel/", follow=True)
    assert (
        EvalRun.objects.get(pk=run.pk).status == EvalRunStatus.CANCELLED
        and "Run cancelled" in response.content.decode()
    )
    again = admin.post(f"/app/p/{project.pk}/runs/{run.pk}/cancel/", follow=True).content.decode()
    assert "already ended (CANCELLED)" in again


def test_retry_makes_a_run_of_the_failures_or_says_there_are_none(admin, project, traces, judge_stub):
    judge_stub.failures.extend([500] * 3)
    run = make_run(project, traces[:1])
    process_all(run)
    assert run.failed_count == 1
    response = admin.post(f"/app/p/{project.pk}/runs/{run.pk}/retry/")
    retry = EvalRun.objects.exclude(pk=run.pk).get()
    assert (
        response.status_code == 302
        and response.url == f"/app/p/{project.pk}/runs/{retry.pk}/"
        and retry.retry_of_id == run.pk
    )
    process_all(retry)
    html = admin.post(f"/app/p/{project.pk}/runs/{retry.pk}/retry/", follow=True).content.decode()
    assert "no failed trace+metric pairs" in html and EvalRun.objects.count() == 2


def test_delete_keeps_or_deletes_the_scores(admin, project, traces, judge_stub):
    kept, dropped = make_run(project, traces[:1]), make_run(project, traces[1:2])
    process_all(kept)
    process_all(dropped)
    assert admin.post(f"/app/p/{project.pk}/runs/{kept.pk}/delete/").url == f"/app/p/{project.pk}/runs/"
    assert TraceScore.objects.filter(trace=traces[0], eval_run=None).count() == 1
    assert (
        admin.post(f"/app/p/{project.pk}/runs/{dropped.pk}/delete/", {"delete_scores": "true"}).status_code
        == 302
    )
    assert not TraceScore.objects.filter(trace=traces[1]).exists() and not EvalRun.objects.exists()


def test_delete_with_a_bad_flag_is_400_and_deletes_nothing(admin, project, traces, judge_stub):
    run = make_run(project, traces)
    assert (
        admin.post(f"/app/p/{project.pk}/runs/{run.pk}/delete/", {"delete_scores": "yes"}).status_code == 400
    )
    assert EvalRun.objects.filter(pk=run.pk).exists()


# --- a run from the explorer's filter ------------------------------------------------------------------


def start(client, project, query: str, **fields):
    data = {"metrics": ["confidence"], "sampling_rate": "1", "action": "start", **fields}
    return client.post(f"{new_run_url(project)}?{query}", data)


def test_the_explorer_offers_the_form_with_its_filter(admin, project, traces, judge_stub):
    html = admin.get(f"/app/p/{project.pk}/traces/?tags=prod&name=agent").content.decode()
    assert f'href="{new_run_url(project)}?tags=prod&amp;name=agent">Evaluate these traces' in html
    TraceFactory(project=project, tags=["dev"])
    form = admin.get(f"{new_run_url(project)}?tags=prod&name=agent").content.decode()
    assert 'data-testid="match-count">3<' in form and "batch-note" not in form
    assert f'action="/app/p/{project.pk}/runs/new/?tags=prod&amp;name=agent"' in form
    assert (
        "task_completion" in form and "whether the agent accomplished" in form
    )  # a metric and its description


def test_an_expressible_filter_becomes_a_filter_run_of_the_explorers_rows(admin, project, traces, judge_stub):
    TraceFactory(project=project, name="agent-x", tags=["dev"])
    TraceFactory(project=project, name="other", tags=["prod"])
    query = "tags=prod,+qa&name=agent&status=&sort_by=name&page=1"
    response = start(admin, project, query, name="nightly")
    run = EvalRun.objects.get()
    assert response.status_code == 302 and response.url == f"/app/p/{project.pk}/runs/{run.pk}/"
    assert run.filters == {"tags": ["prod", "qa"], "name": "agent"} and run.name == "nightly"
    assert target_ids(run) == explorer_ids(admin, project, query) == {str(t.pk) for t in traces}


def test_an_inexpressible_filter_becomes_a_run_of_the_explorers_ids(admin, project, traces, judge_stub):
    TraceFactory(project=project, tags=["prod"], environment="staging")
    for trace in traces[:2]:
        trace.environment = "prod"
        trace.save()
    query = "tags=prod&environment=prod"
    form = admin.get(f"{new_run_url(project)}?{query}").content.decode()
    assert 'data-testid="batch-note"' in form and "<b>environment</b>" in form
    assert start(admin, project, query).status_code == 302
    run = EvalRun.objects.get()
    assert set(run.filters) == {"trace_ids"} and len(run.filters["trace_ids"]) == 2
    assert target_ids(run) == explorer_ids(admin, project, query) == {str(t.pk) for t in traces[:2]}


def test_a_score_filter_samples_the_ids_like_a_filter_run(admin, project, traces, judge_stub):
    more = [TraceFactory(project=project, input="q", output="a") for _ in range(7)]
    assert start(admin, project, "missing_score=confidence", sampling_rate="0.5", seed="7").status_code == 302
    batch = EvalRun.objects.get()
    assert "trace_ids" in batch.filters and batch.total_targets == 5
    assert (batch.sampling_rate, batch.seed) == (0.5, 7)  # the run says how its ids were sampled
    assert target_ids(batch) <= {str(t.pk) for t in traces + more}
    same = runs.eval_run_create(
        access=ProjectAccess.system(project), metrics=["confidence"], sampling_rate=0.5, seed=7
    )
    assert target_ids(same) == target_ids(batch)  # the same seed picks the same traces either way


def test_too_many_traces_by_id_are_refused_with_a_clear_message(
    admin, project, traces, judge_stub, monkeypatch
):
    monkeypatch.setattr(runs, "MAX_BATCH_TRACES", 2)
    response = start(admin, project, "environment=")  # an empty box filters nothing: a filter run, no cap
    assert response.status_code == 302
    response = start(admin, project, "missing_score=confidence")
    html = response.content.decode()
    assert response.status_code == 422 and "missing_score" in html and "at most 2 can be" in html
    assert EvalRun.objects.count() == 1
    assert (
        start(admin, project, "missing_score=confidence", sampling_rate="0.5").status_code == 302
    )  # 2 by id


def test_preview_shows_the_plan_and_creates_nothing(admin, project, traces, judge_stub):
    for query in ("tags=prod", "environment=nowhere&tags=prod"):
        response = start(admin, project, query, action="preview", metrics=["confidence", "task_completion"])
        if "nowhere" in query:
            assert response.status_code == 422 and "No trace matches" in response.content.decode()
            continue
        html = response.content.decode()
        assert response.status_code == 200 and 'data-testid="plan"' in html
        assert "<dt>Traces</dt><dd>3</dd>" in html and "at most 9" in html and "stub-judge" in html
    assert not EvalRun.objects.exists() and not EvalTarget.objects.exists()


@pytest.mark.parametrize(
    "fields, field, word",
    [
        ({"metrics": []}, "metrics", "required"),
        ({"metrics": ["nope"]}, "metrics", "nope"),
        ({"sampling_rate": "2"}, "sampling_rate", "less than or equal to 1"),
        ({"sampling_rate": "half"}, "sampling_rate", "number"),
        ({"seed": "-1"}, "seed", "greater than or equal to 0"),
        ({"name": "x" * 256}, "name", "at most 255"),
        ({"action": "launch"}, "action", "launch"),
    ],
)
def test_bad_input_rerenders_the_form_with_422_naming_the_field(
    admin, project, traces, judge_stub, fields, field, word
):
    response = start(admin, project, "tags=prod", **fields)
    html = response.content.decode()
    assert response.status_code == 422 and word in html
    assert f'data-field="{field}"' in html or f"{field}: " in html
    assert not EvalRun.objects.exists()


def test_no_judge_configured_the_form_says_how_to_configure_one(admin, project, traces, settings):
    settings.PANDAPROBE_JUDGE_MODEL = ""
    response = start(admin, project, "tags=prod")
    assert response.status_code == 422 and "set PANDAPROBE_JUDGE_MODEL" in response.content.decode()
    assert not EvalRun.objects.exists()


def test_a_filter_the_explorer_refuses_is_400_naming_it(admin, project, traces, judge_stub):
    for response in (admin.get(f"{new_run_url(project)}?status=DONE"), start(admin, project, "status=DONE")):
        html = response.content.decode()
        assert response.status_code == 400 and "status: " in html and "DONE" in html
    assert not EvalRun.objects.exists()


def test_the_form_is_offered_in_the_current_project_only(
    as_outsider, project, other_project, traces, judge_stub
):
    # The outsider's own project has no traces: nothing matches, whatever this project holds.
    html = as_outsider.get(f"{new_run_url(other_project)}?tags=prod").content.decode()
    assert 'data-testid="match-count">0<' in html
    assert as_outsider.get(new_run_url(project)).status_code == 404  # not a member
    assert start(as_outsider, other_project, "tags=prod").status_code == 422 and not EvalRun.objects.exists()


# --- the judge's figures on the trace page -------------------------------------------------------------


def test_trace_page_shows_an_automated_scores_judge_figures_and_why_one_failed(
    as_reviewer, project, traces, judge_stub
):
    run = make_run(project, traces[:1], metrics=("confidence", "task_completion"))
    judge_stub.failures.extend([500] * 3)  # the first metric's calls fail, the second's succeed
    process_all(run)
    html = as_reviewer.get(f"/app/p/{project.pk}/traces/{traces[0].pk}/").content.decode()
    failed, success = TraceScore.objects.get(status="FAILED"), TraceScore.objects.get(status="SUCCESS")
    item = html[html.index(f'data-score-name="{success.name}"') :][:2500]
    assert "stub-judge" in item and f"{success.metadata['prompt_version']}" in item
    assert f"{success.metadata['prompt_tokens']} prompt" in item and "Latency" in item
    assert f'href="/app/p/{project.pk}/runs/{run.pk}/"' in item
    bad = html[html.index(f'data-score-name="{failed.name}"') :][:2500]
    assert "Why it failed:" in bad and failed.reason[:30] in bad


def test_starting_and_retrying_runs_from_the_pages_count_against_the_users_rate(
    admin, admin_user, project, traces, judge_stub, settings
):
    settings.RATELIMIT_EVAL_RUNS = "3/h"  # an hour: a minute may end between slow requests
    assert start(admin, project, "").status_code == 302
    run = EvalRun.objects.get()
    assert admin.post(f"/app/p/{project.pk}/runs/{run.pk}/retry/").status_code == 302  # counted, none failed
    assert start(admin, project, "").status_code == 302
    limited = start(admin, project, "")
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert admin.post(f"/app/p/{project.pk}/runs/{run.pk}/retry/").status_code == 429
    assert EvalRun.objects.count() == 2
    assert admin.get(new_run_url(project)).status_code == 200  # looking is not starting
