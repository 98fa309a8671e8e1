"""Session evaluation runs: per-trace signals (computed, reused, failed), the session scores, and the
session-run API, with the stub judge over HTTP and the items processed here."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from evaluations.models import EvalRun, EvalTarget, SessionScore, TraceScore
from evaluations.services import runs
from pandaprobe.projects.access import ProjectAccess

from ..factories import SpanFactory, TraceFactory

URL = "/evaluations/session-runs"
BOTH = ["agent_reliability", "agent_consistency"]


def chat(role: str, text: str) -> dict:
    return {"messages": [{"role": role, "content": text}]}


def make_session(project, session_id: str, outputs: list[str], *, error: bool = False) -> list:
    start = timezone.now() - timedelta(hours=1)
    traces = []
    for index, output in enumerate(outputs):
        trace = TraceFactory(
            project=project, session_id=session_id, started_at=start + timedelta(minutes=index),
            # The stub embeds a bag of words: an answer that echoes its question is fully coherent.
            input=chat("user", output), output=chat("assistant", output),
            status="ERROR" if error and index == 0 else "COMPLETED",
        )  # fmt: skip
        SpanFactory(trace=trace, kind="TOOL", name="lookup_order", input={"order": index}, output={"ok": 1})
        traces.append(trace)
    return traces


@pytest.fixture
def system(project):
    return ProjectAccess.system(project)


@pytest.fixture
def varied(project):
    return make_session(project, "varied", ["your order ships monday", "refund issued to card", "address updated"])


def process_all(run_id) -> EvalRun:
    for target_id in EvalTarget.objects.filter(run_id=run_id).values_list("pk", flat=True):
        runs.eval_target_process(target_id=target_id)
    return EvalRun.objects.get(pk=run_id)


def test_a_session_run_stores_each_traces_signals_and_the_two_session_scores(system, varied, judge_stub):
    judge_stub.answers["confidence"] = {"rating": "good", "reason": "Some hedging."}
    run = runs.session_eval_run_create_batch(access=system, session_ids=["varied", "varied"], metrics=BOTH)
    assert (run.target_type, run.total_targets) == ("SESSION", 1)
    run = process_all(run.pk)
    assert (run.status, run.evaluated_count, run.failed_count) == ("COMPLETED", 1, 0)
    signals = TraceScore.objects.filter(eval_run=run)
    assert signals.count() == 3 * 4
    assert set(signals.values_list("name", flat=True)) == {"confidence", "tool_correctness", "coherence",
                                                           "loop_detection"}  # fmt: skip
    assert {s.metadata["session_id"] for s in signals} == {"varied"}
    assert all(s.value == "0.75" for s in signals.filter(name="confidence"))
    scores = {s.name: s for s in SessionScore.objects.filter(eval_run=run)}
    assert set(scores) == set(BOTH) and all(s.source == "AUTOMATED" and s.status == "SUCCESS" for s in scores.values())
    details = scores["agent_reliability"].metadata["details"]
    assert [t["trace_id"] for t in details["traces"]] == [str(t.pk) for t in varied]
    assert scores["agent_reliability"].metadata["signals_computed"] == 12
    # Per trace: task extraction, confidence and tool_correctness (chat), coherence (embedding); and
    # one embedding call for every output of the session (loop detection).
    assert len(judge_stub.calls_named("confidence")) == 3 and len(judge_stub.calls_named("extract_task")) == 3
    assert len([c for c in judge_stub.calls if c["kind"] == "embedding"]) == 3 + 1
    assert run.judge_calls == len(judge_stub.calls)


def test_a_second_run_reuses_the_signals_and_calls_no_judge(system, varied, judge_stub):
    first = process_all(runs.session_eval_run_create_batch(access=system, session_ids=["varied"], metrics=BOTH).pk)
    calls = len(judge_stub.calls)
    second = process_all(runs.session_eval_run_create_batch(access=system, session_ids=["varied"], metrics=BOTH).pk)
    assert len(judge_stub.calls) == calls and second.judge_calls == 0
    reused = TraceScore.objects.filter(eval_run=second)
    assert reused.count() == 12 and all(s.metadata["reused_from"] for s in reused)
    values = lambda run: {s.name: s.value for s in SessionScore.objects.filter(eval_run=run)}  # noqa: E731
    assert values(first) == values(second)


def test_signals_are_reused_only_from_the_same_model_and_prompt_version(system, varied, judge_stub):
    process_all(runs.session_eval_run_create_batch(access=system, session_ids=["varied"], metrics=BOTH).pk)
    stale = TraceScore.objects.filter(name="confidence", trace=varied[0]).get()
    stale.metadata = {**stale.metadata, "prompt_versions": {"judge": "confidence@v0"}}
    stale.save(update_fields=["metadata"])
    judge_stub.calls.clear()
    process_all(runs.session_eval_run_create_batch(access=system, session_ids=["varied"], metrics=BOTH).pk)
    assert len(judge_stub.calls_named("confidence")) == 1 and not judge_stub.calls_named("tool_correctness")
    judge_stub.calls.clear()
    other = runs.session_eval_run_create_batch(access=system, session_ids=["varied"], metrics=BOTH,
                                               model="stub-judge-2")  # fmt: skip
    process_all(other.pk)
    assert len(judge_stub.calls_named("confidence")) == 3 and len(judge_stub.calls_named("tool_correctness")) == 3


def test_a_session_that_repeats_itself_is_caught_by_loop_detection(system, project, varied, judge_stub):
    make_session(project, "looping", ["let me check that for you"] * 4)
    run = process_all(
        runs.session_eval_run_create_batch(access=system, session_ids=["looping", "varied"], metrics=BOTH).pk
    )
    loops = lambda sid: [s.numeric_value for s in TraceScore.objects.filter(  # noqa: E731
        eval_run=run, name="loop_detection", trace__session_id=sid).order_by("trace__started_at")]
    assert loops("looping")[0] == 1.0 and all(value < 0.05 for value in loops("looping")[1:])
    assert all(value > 0.5 for value in loops("varied"))
    reliability = {s.session_id: s for s in SessionScore.objects.filter(eval_run=run, name="agent_reliability")}
    assert reliability["looping"].numeric_value < reliability["varied"].numeric_value
    assert len(reliability["looping"].metadata["details"]["flagged_trace_ids"]) == 3


def test_a_failed_signal_is_stored_failed_and_left_out(system, varied, judge_stub):
    judge_stub.answers["confidence"] = {"rating": "not-a-rating"}  # fails validation, and its repair too
    run = process_all(runs.session_eval_run_create_batch(access=system, session_ids=["varied"], metrics=BOTH).pk)
    failed = TraceScore.objects.filter(eval_run=run, name="confidence")
    assert {(s.status, s.value) for s in failed} == {("FAILED", None)}
    reliability = SessionScore.objects.get(eval_run=run, name="agent_reliability")
    assert reliability.status == "SUCCESS" and reliability.metadata["signals_failed"] == 3
    assert all("confidence" not in t["signals"] or t["signals"]["confidence"] is None
               for t in reliability.metadata["details"]["traces"])  # fmt: skip
    assert run.failed_count == 0  # the run's pairs are sessions x metrics; the session scored


def test_a_judge_outage_fails_the_session_scores_and_retry_scores_them(system, varied, judge_stub):
    judge_stub.failures.extend([500] * 200)
    run = process_all(runs.session_eval_run_create_batch(access=system, session_ids=["varied"], metrics=BOTH).pk)
    assert run.failed_count == 2
    assert {s.status for s in SessionScore.objects.filter(eval_run=run)} == {"FAILED"}
    judge_stub.failures.clear()
    retry = process_all(runs.eval_run_retry(access=system, run=run).pk)
    assert (retry.target_type, retry.total_targets, retry.failed_count) == ("SESSION", 1, 0)
    assert {s.status for s in SessionScore.objects.filter(eval_run=retry)} == {"SUCCESS"}


def test_session_runs_by_filter(system, project, varied, judge_stub):
    make_session(project, "broken", ["x", "y"], error=True)
    make_session(project, "short", ["only one"])

    def matched(**filters):
        plan = runs.session_eval_run_create(access=system, metrics=BOTH, filters=filters, dry_run=True)
        return plan.total_targets, sorted(plan.sample_ids)

    assert matched() == (3, ["broken", "short", "varied"])
    assert matched(min_trace_count=2) == (2, ["broken", "varied"])
    assert matched(has_error=True) == (1, ["broken"])
    assert matched(has_error=False, min_trace_count=3) == (1, ["varied"])
    assert EvalRun.objects.count() == 0


# --- the API ---------------------------------------------------------------------------------------


def test_session_metrics_are_listed(api):
    metrics = api.get("/evaluations/session-metrics").json()
    assert [m["name"] for m in metrics] == BOTH and {m["category"] for m in metrics} == {"session"}
    assert set(metrics[0]) == {"name", "description", "category"}


def test_a_session_run_through_the_api(api, varied, judge_stub):
    response = api.post(f"{URL}/batch", {"session_ids": ["varied"], "metrics": BOTH,
                                         "signal_weights": {"coherence": 0.5}}, format="json")  # fmt: skip
    assert response.status_code == 202, response.json()
    run = response.json()
    assert (run["target_type"], run["total_targets"], run["total_traces"]) == ("SESSION", 1, 1)
    process_all(run["id"])
    detail = api.get(f"{URL}/{run['id']}").json()
    assert (detail["status"], detail["evaluated_count"]) == ("COMPLETED", 1)
    scores = api.get(f"{URL}/{run['id']}/scores").json()
    assert sorted(s["name"] for s in scores) == sorted(BOTH) and {s["session_id"] for s in scores} == {"varied"}
    weights = SessionScore.objects.get(eval_run_id=run["id"], name="agent_reliability").metadata["details"]["weights"]
    assert weights["coherence"] == 0.5 and weights["confidence"] == 1.0
    listed = api.get("/evaluations/session-scores", {"eval_run_id": run["id"]}).json()
    assert listed["total"] == 2
    assert api.get(URL).json()["total"] == 1 and api.get("/evaluations/trace-runs").json()["total"] == 0
    assert api.get(f"/evaluations/trace-runs/{run['id']}").status_code == 404


@pytest.mark.parametrize(
    "body, status, word",
    [
        ({"metrics": ["nope"]}, 400, "nope"),
        ({"metrics": BOTH, "signal_weights": {"loops": 1}}, 422, "signal_weights.loops"),
        ({"metrics": BOTH, "signal_weights": {"coherence": -1}}, 422, "signal_weights.coherence"),
        ({"metrics": BOTH, "filters": {"date_from": "yesterday"}}, 400, "date"),
        ({"metrics": BOTH, "filters": {"min_trace_count": 0}}, 422, "min_trace_count"),
        ({"metrics": BOTH, "filters": {"user_id": "nobody"}}, 422, "No session"),
        ({"metrics": []}, 422, "metrics"),
    ],
)
def test_bad_session_runs_are_refused_naming_the_problem(api, varied, judge_stub, body, status, word):
    response = api.post(URL, body, format="json")
    assert response.status_code == status and word in response.content.decode(), response.content
    assert EvalRun.objects.count() == 0


def test_a_dry_run_says_what_it_would_do(api, varied, judge_stub):
    response = api.post(URL, {"metrics": BOTH, "dry_run": True}, format="json")
    assert response.status_code == 200
    plan = response.json()
    assert plan["dry_run"] and plan["total_targets"] == 1 and plan["sample_session_ids"] == ["varied"]
    assert plan["judge_calls"] == 3 * 4 + 1 and plan["estimated_prompt_tokens"] > 0
    assert EvalRun.objects.count() == 0


def test_retry_cancel_and_delete_session_runs(api, varied, judge_stub):
    run = api.post(f"{URL}/batch", {"session_ids": ["varied"], "metrics": BOTH}, format="json").json()
    process_all(run["id"])
    assert api.post(f"{URL}/{run['id']}/retry").status_code == 422
    assert api.post(f"{URL}/{run['id']}/cancel").status_code == 409
    pending = api.post(f"{URL}/batch", {"session_ids": ["varied"], "metrics": BOTH}, format="json").json()
    assert api.post(f"{URL}/{pending['id']}/cancel").json()["status"] == "CANCELLED"
    assert api.delete(f"{URL}/{run['id']}").status_code == 204
    assert SessionScore.objects.filter(eval_run_id=None).count() == 2
    again = api.post(f"{URL}/batch", {"session_ids": ["varied"], "metrics": BOTH}, format="json").json()
    process_all(again["id"])
    assert api.delete(f"{URL}/{again['id']}?delete_scores=true").status_code == 204
    assert not SessionScore.objects.filter(eval_run_id=again["id"]).exists()
    assert not TraceScore.objects.filter(eval_run_id=again["id"]).exists()
    assert SessionScore.objects.count() == 2


def test_another_projects_sessions_and_runs_are_not_found(api, other_api, varied, judge_stub):
    run = api.post(f"{URL}/batch", {"session_ids": ["varied"], "metrics": BOTH}, format="json").json()
    for path in (f"{URL}/{run['id']}", f"{URL}/{run['id']}/scores"):
        assert other_api.get(path).status_code == 404 and api.get(path).status_code == 200
    assert other_api.delete(f"{URL}/{run['id']}").status_code == 404
    assert other_api.post(f"{URL}/{run['id']}/retry").status_code == 404
    stolen = other_api.post(f"{URL}/batch", {"session_ids": ["varied"], "metrics": BOTH}, format="json")
    assert stolen.status_code == 404 and "varied" in stolen.json()["detail"]


def test_reviewers_cannot_start_session_runs(bearer_client, reviewer, project, varied, judge_stub):
    client = bearer_client(reviewer, project)
    response = client.post(f"{URL}/batch", {"session_ids": ["varied"], "metrics": BOTH}, format="json")
    assert response.status_code == 403 and EvalRun.objects.count() == 0


def test_session_run_creation_is_rate_limited(api, varied, judge_stub, settings):
    settings.RATELIMIT_EVAL_RUNS = "2/h"  # an hour: a minute may end between slow requests
    body = {"session_ids": ["varied"], "metrics": BOTH, "dry_run": True}
    assert [api.post(f"{URL}/batch", body, format="json").status_code for _ in range(3)] == [200, 200, 429]


def test_the_evaluate_command_runs_sessions(project, varied, judge_stub, capsys):
    call_command("evaluate", "--project", project.name, "--sessions", "--metrics", "agent_reliability",
                 "--min-trace-count", "2", "--signal-weight", "coherence=0.5", "--no-wait")  # fmt: skip
    run = EvalRun.objects.get()
    assert (run.target_type, run.total_targets, run.options) == ("SESSION", 1, {"signal_weights": {"coherence": 0.5}})
    assert "1 sessions x agent_reliability" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_a_session_run_through_a_real_worker(api, varied, judge_stub, worker, broker):
    run = api.post(f"{URL}/batch", {"session_ids": ["varied"], "metrics": BOTH}, format="json").json()
    broker.join("evaluations", timeout=60_000)
    worker.join()
    detail = api.get(f"{URL}/{run['id']}").json()
    assert (detail["status"], detail["evaluated_count"]) == ("COMPLETED", 1)
    assert SessionScore.objects.filter(eval_run_id=run["id"]).count() == 2
    assert TraceScore.objects.filter(eval_run_id=run["id"]).count() == 12


def test_the_session_page_shows_the_verdicts_and_flags_the_looping_traces(client, admin_user, system, project,
                                                                           judge_stub):  # fmt: skip
    looping = make_session(project, "looping", ["let me check that for you"] * 4)
    process_all(runs.session_eval_run_create_batch(access=system, session_ids=["looping"], metrics=BOTH).pk)
    client.force_login(admin_user)
    page = client.get(f"/app/p/{project.pk}/sessions/looping/").content.decode()
    assert 'id="agent-evaluation"' in page and "agent_reliability" in page and "agent_consistency" in page
    assert page.count('class="flagged"') == 3
    for trace in looping[1:]:
        assert f'<tr class="flagged" data-trace-id="{trace.pk}">' in page
        assert f'href="/app/p/{project.pk}/traces/{trace.pk}/' in page
    assert f'<tr data-trace-id="{looping[0].pk}">' in page.split('id="traces"')[0]
    assert 'id="agent-evaluation"' not in client.get(f"/app/p/{project.pk}/sessions/").content.decode()
