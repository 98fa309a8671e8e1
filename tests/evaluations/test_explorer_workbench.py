"""The trace explorer as a workbench (issue 12, item 7): row selection added to a queue or evaluated,
the score value filter, time-range presets, case-insensitive environment and user with suggestions,
a reversed date range refused, and the queue builder's filter (the explorer's, with a count)."""

import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from evaluations.links import page_url
from evaluations.models import EvalRun, EvalTarget, ReviewQueue, ReviewQueueItem, ScoreStatus
from evaluations.selectors import annotations
from evaluations.services import queues as queue_services
from pandaprobe.errors import PermissionDenied
from pandaprobe.traces.models import Trace

from ..factories import TraceFactory, TraceScoreFactory
from .queue_factories import access_of, build_queue, queue_create_data, signed_in

pytestmark = pytest.mark.django_db


def explorer(project) -> str:
    return page_url("trace-list", project)


def selection(project) -> str:
    return page_url("trace-selection", project)


def new_queue(project) -> str:
    return page_url("queue-create", project)


def new_run(project) -> str:
    return page_url("run-create", project)


@pytest.fixture
def admin(project, admin_user):
    return signed_in(admin_user, project)


@pytest.fixture
def as_reviewer(project, reviewer):
    return signed_in(reviewer, project)


def listed(client, project, query: str) -> set[str]:
    response = client.get(f"{explorer(project)}?{query}")
    assert response.status_code == 200, response.content.decode()[:800]
    return set(
        re.findall(
            r'<tr data-trace-id="[^"]+">.*?<a href="[^"]*">([^<]+)</a>', response.content.decode(), re.S
        )
    )


def errors_of(html: str, field: str) -> list[str]:
    """The messages under a field (`data-field` of the filter include's error lists)."""
    block = re.search(rf'<ul class="errorlist" data-field="{field}">(.*?)</ul>', html, re.S)
    return re.findall(r"<li>(.*?)</li>", block.group(1)) if block else []


def queued(queue) -> list:
    return list(
        ReviewQueueItem.objects.filter(queue=queue).order_by("position").values_list("trace_id", flat=True)
    )


# --- row selection: add to a queue ----------------------------------------------------------------


def test_admin_adds_the_selection_to_a_queue_skipping_traces_already_in_it(project, admin_user, alice, admin):
    first, second, third = (TraceFactory(project=project, name=f"t{i}") for i in range(3))
    queue = build_queue(project, admin_user, [alice], traces=[first])
    html = admin.get(f"{explorer(project)}?name=t").content.decode()
    assert (
        f'action="{selection(project)}?name=t"' in html
        and f'<option value="{queue.pk}">Weekly review</option>' in html
    )
    assert html.count('name="trace_ids"') == 3 and "data-select-all" in html

    data = {
        "action": "queue",
        "queue": str(queue.pk),
        "trace_ids": [str(t.pk) for t in (third, first, second)],
    }
    response = admin.post(f"{selection(project)}?name=t", data)
    assert response.status_code == 302 and response["Location"] == f"{explorer(project)}?name=t"
    assert queued(queue) == [first.pk, third.pk, second.pk]  # appended after the last, in the order sent
    assert list(queue.items.order_by("position").values_list("position", flat=True)) == [1, 2, 3]
    page = admin.get(response["Location"]).content.decode()
    assert "Added 2 traces to &#x27;Weekly review&#x27;; skipped 1 already in it." in page

    # Again: nothing new, and it says so.
    admin.post(selection(project), {**data, "trace_ids": [str(first.pk)]})
    assert len(queued(queue)) == 3
    assert (
        "Added 0 traces to &#x27;Weekly review&#x27;; skipped 1 already in it."
        in admin.get(explorer(project)).content.decode()
    )


def test_a_reviewer_sees_no_selection_and_gets_403_posting_one(project, admin_user, alice, as_reviewer):
    trace = TraceFactory(project=project)
    queue = build_queue(project, admin_user, [alice], n_traces=1)
    html = as_reviewer.get(explorer(project)).content.decode()
    assert 'name="trace_ids"' not in html and "Add to queue" not in html and "Evaluate selected" not in html
    for action in ("queue", "evaluate"):
        response = as_reviewer.post(
            selection(project), {"action": action, "queue": str(queue.pk), "trace_ids": [str(trace.pk)]}
        )
        assert response.status_code == 403
    assert len(queued(queue)) == 1 and not EvalRun.objects.exists()


def test_another_projects_ids_are_left_out_with_a_message_and_its_queues_are_404(
    project, other_project, admin_user, alice, outsider, admin
):
    mine, theirs = TraceFactory(project=project), TraceFactory(project=other_project)
    queue = build_queue(project, admin_user, [alice], traces=[TraceFactory(project=project)])
    response = admin.post(
        selection(project),
        {"action": "queue", "queue": str(queue.pk), "trace_ids": [str(theirs.pk), str(mine.pk)]},
    )
    assert response.status_code == 302
    assert theirs.pk not in queued(queue) and mine.pk in queued(queue)
    page = admin.get(explorer(project)).content.decode()
    assert "Added 1 trace to" in page and "1 selected trace is not in this project: left out." in page

    their_queue = build_queue(other_project, outsider, [outsider], traces=[theirs], name="Theirs")
    response = admin.post(
        selection(project), {"action": "queue", "queue": str(their_queue.pk), "trace_ids": [str(mine.pk)]}
    )
    assert response.status_code == 404 and queued(their_queue) == [theirs.pk]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "queue"}, "Select at least one trace."),
        ({"action": "queue", "trace_ids": ["not-an-id"]}, "“not-an-id” is not a trace id."),
        ({"action": "queue", "trace_ids": ["{trace}"]}, "Choose the queue to add the traces to."),
        ({"action": "evaluate", "trace_ids": ["{other}"]}, "None of the selected traces is in this project."),
    ],
)
def test_a_bad_selection_shows_the_explorer_again_with_400(project, other_project, admin, data, message):
    trace, other = TraceFactory(project=project, name="kept"), TraceFactory(project=other_project)
    ids = {"{trace}": str(trace.pk), "{other}": str(other.pk)}
    data = {**data, "trace_ids": [ids.get(value, value) for value in data.get("trace_ids", [])]}
    response = admin.post(f"{selection(project)}?name=kept", data)
    html = response.content.decode()
    assert response.status_code == 400 and message in html.replace("&quot;", '"')
    assert 'data-testid="selection-errors"' in html and ">kept</a>" in html  # the same explorer
    assert not ReviewQueueItem.objects.filter(trace=trace).exists() and not EvalRun.objects.exists()


def test_an_unknown_action_is_400(project, admin):
    trace = TraceFactory(project=project)
    response = admin.post(selection(project), {"action": "delete", "trace_ids": [str(trace.pk)]})
    assert response.status_code == 400
    assert admin.get(selection(project)).status_code == 405


def test_an_archived_queue_is_refused_with_422_and_the_boxes_stay_ticked(project, admin_user, alice, admin):
    trace = TraceFactory(project=project)
    queue = build_queue(project, admin_user, [alice], n_traces=1)
    ReviewQueue.objects.filter(pk=queue.pk).update(is_archived=True)
    response = admin.post(
        selection(project), {"action": "queue", "queue": str(queue.pk), "trace_ids": [str(trace.pk)]}
    )
    html = response.content.decode()
    assert response.status_code == 422 and "is archived: restore it to add traces" in html
    assert f'value="{trace.pk}" aria-label="Select {trace.name}" checked' in html
    assert len(queued(queue)) == 1
    assert f'<option value="{queue.pk}"' not in html  # only open queues are offered


def test_items_add_service_rules(project, admin_user, alice, reviewer, monkeypatch):
    traces = [TraceFactory(project=project) for _ in range(3)]
    queue = build_queue(project, admin_user, [alice], traces=traces[:1])
    with pytest.raises(PermissionDenied):
        queue_services.review_queue_items_add(
            access=access_of(reviewer, project), queue=queue, trace_ids=[traces[1].pk]
        )
    monkeypatch.setattr(queue_services.build, "MAX_QUEUE_ITEMS", 2)
    with pytest.raises(ValidationError) as error:
        queue_services.review_queue_items_add(
            access=access_of(admin_user, project), queue=queue, trace_ids=[t.pk for t in traces]
        )
    assert "at most 2 traces per queue" in error.value.message_dict["trace_ids"][0]
    result = queue_services.review_queue_items_add(
        access=access_of(admin_user, project),
        queue=queue,
        trace_ids=[traces[2].pk, traces[2].pk, traces[0].pk],
    )
    assert (result.added, result.already_queued, result.not_found) == (1, 1, 0)
    assert queued(queue) == [traces[0].pk, traces[2].pk]


# --- row selection: evaluate ----------------------------------------------------------------------


def test_evaluate_selected_opens_the_run_form_for_exactly_those_traces(
    project, other_project, admin, judge_stub
):
    chosen = [TraceFactory(project=project, input="q", output="a") for _ in range(2)]
    TraceFactory(project=project, input="q", output="a")
    foreign = TraceFactory(project=other_project)
    ids = [str(t.pk) for t in chosen]
    response = admin.post(selection(project), {"action": "evaluate", "trace_ids": [*ids, str(foreign.pk)]})
    assert response.status_code == 302
    url = urlsplit(response["Location"])
    assert url.path == new_run(project) and parse_qs(url.query) == {"trace_ids": ids}
    form = admin.get(response["Location"])
    html = form.content.decode()
    assert 'data-testid="match-count">2<' in html and "<b>trace_ids</b>" in html
    assert "1 selected trace is not in this project: left out." in html

    start = admin.post(
        response["Location"], {"metrics": ["confidence"], "sampling_rate": "1", "action": "start"}
    )
    run = EvalRun.objects.get()
    assert start.status_code == 302 and sorted(run.filters["trace_ids"]) == sorted(ids)
    assert {str(t) for t in EvalTarget.objects.filter(run=run).values_list("trace_id", flat=True)} == set(ids)
    # The explorer lists exactly the selection too (the run page's way back).
    assert listed(admin, project, "&".join(f"trace_ids={i}" for i in ids)) == {t.name for t in chosen}


# --- score value filter ---------------------------------------------------------------------------


@pytest.fixture
def scored(project, other_project):
    low = TraceFactory(project=project, name="low")
    mixed = TraceFactory(project=project, name="mixed")
    high = TraceFactory(project=project, name="high")
    TraceFactory(project=project, name="unscored")
    failed = TraceFactory(project=project, name="failed")
    TraceScoreFactory(trace=low, name="correctness", value="2")
    TraceScoreFactory(trace=mixed, name="correctness", value="4")
    TraceScoreFactory(trace=mixed, name="correctness", value="1")  # another reviewer's
    TraceScoreFactory(trace=high, name="correctness", value="5")
    TraceScoreFactory(trace=high, name="tone", value="1")
    TraceScoreFactory(trace=failed, name="correctness", value="0", status=ScoreStatus.FAILED)
    TraceScoreFactory(trace=high, name="helpful", value="true", data_type="BOOLEAN", numeric_value=1.0)
    TraceScoreFactory(trace=TraceFactory(project=other_project, name="theirs"), name="correctness", value="1")


@pytest.mark.parametrize(
    ("condition", "names"),
    [
        ("correctness < 3", {"low", "mixed"}),  # any SUCCESS score of the name: mixed has a 1
        ("correctness<=2", {"low", "mixed"}),
        ("correctness > 4", {"high"}),
        (" correctness >= 4 ", {"mixed", "high"}),
        ("correctness = 2", {"low"}),
        ("correctness != 2", {"mixed", "high"}),
        ("correctness < -1.5e2", set()),
        ("helpful = 1", {"high"}),
        ("tone < 3", {"high"}),
    ],
)
def test_score_value_filter_matches_a_success_score_of_that_name(admin, project, scored, condition, names):
    assert listed(admin, project, f"score={condition.replace('+', '%2B')}") == names


@pytest.mark.parametrize(
    "condition",
    [
        "correctness << 3",
        "correctness",
        "< 3",
        "correctness < three",
        "x < 1e999",
        "x\x00 < 1",
        "x" * 300 + " < 1",
    ],
)
def test_a_bad_score_condition_is_400_under_the_field(admin, project, condition):
    TraceFactory(project=project)
    response = admin.get(explorer(project), {"score": condition})
    html = response.content.decode()
    assert response.status_code == 400
    assert "is not a score condition" in errors_of(html, "score")[0]
    assert "No traces match" in html


def test_a_run_over_a_score_condition_lists_the_explorers_ids(admin, project, scored, judge_stub):
    query = "score=correctness+%3C+3"
    html = admin.get(f"{new_run(project)}?{query}").content.decode()
    assert 'data-testid="match-count">2<' in html and "<b>score</b>" in html
    admin.post(
        f"{new_run(project)}?{query}", {"metrics": ["confidence"], "sampling_rate": "1", "action": "start"}
    )
    run = EvalRun.objects.get()
    targets = EvalTarget.objects.filter(run=EvalRun.objects.get()).values_list("trace_id", flat=True)
    assert "trace_ids" in run.filters
    assert set(Trace.objects.filter(pk__in=targets).values_list("name", flat=True)) == {"low", "mixed"}
    assert listed(admin, project, query) == {"low", "mixed"}


# --- time-range presets ---------------------------------------------------------------------------


@pytest.fixture
def aged(project):
    now = timezone.now()
    for name, age in [("30m", timedelta(minutes=30)), ("3h", timedelta(hours=3)), ("3d", timedelta(days=3)),
                      ("20d", timedelta(days=20)), ("40d", timedelta(days=40))]:  # fmt: skip
        TraceFactory(project=project, name=name, started_at=now - age)


@pytest.mark.parametrize(
    ("preset", "span", "names"),
    [
        ("1h", timedelta(hours=1), {"30m"}),
        ("24h", timedelta(hours=24), {"30m", "3h"}),
        ("7d", timedelta(days=7), {"30m", "3h", "3d"}),
        ("30d", timedelta(days=30), {"30m", "3h", "3d", "20d"}),
    ],
)
def test_a_preset_fills_the_dates_and_filters(admin, project, aged, preset, span, names):
    # A preset wins over typed dates: it is the last hour, day... up to now.
    query = f"range={preset}&started_before=2000-01-01T00:00"
    assert listed(admin, project, query) == names
    html = admin.get(f"{explorer(project)}?{query}").content.decode()
    after = re.search(r'id="f-after" name="started_after" value="([^"]+)"', html).group(1)
    expected = timezone.localtime() - span
    assert abs(datetime.fromisoformat(after) - expected.replace(tzinfo=None)) < timedelta(seconds=30)
    assert re.search(r'id="f-before" name="started_before" value=""', html)
    assert f'<option value="{preset}" selected>' in html


def test_custom_range_uses_the_dates_and_an_unknown_preset_is_400(admin, project, aged):
    after = (timezone.localtime() - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    before = (timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert listed(admin, project, f"range=custom&started_after={after}&started_before={before}") == {"3d"}
    response = admin.get(explorer(project), {"range": "2w"})
    assert response.status_code == 400 and errors_of(response.content.decode(), "range")


def test_a_run_from_a_preset_stores_the_moment_it_started_from(admin, project, aged, judge_stub):
    html = admin.get(f"{new_run(project)}?range=24h").content.decode()
    assert 'data-testid="match-count">2<' in html and "batch-note" not in html
    admin.post(
        f"{new_run(project)}?range=24h", {"metrics": ["confidence"], "sampling_rate": "1", "action": "start"}
    )
    run = EvalRun.objects.get()
    assert set(run.filters) == {"date_from"} and run.total_targets == 2


# --- case-insensitive environment and user, with suggestions --------------------------------------


def test_environment_and_user_match_case_insensitively(admin, project):
    TraceFactory(project=project, name="a", environment="Production", user_id="Alice")
    TraceFactory(project=project, name="b", environment="production", user_id="alice")
    TraceFactory(project=project, name="c", environment="staging", user_id="alicia")
    assert listed(admin, project, "environment=PRODUCTION") == {"a", "b"}
    assert listed(admin, project, "user_id=aLiCe") == {"a", "b"}
    assert listed(admin, project, "user_id=ali") == set()  # the whole value, not a part
    # A run's stored user filter is exact (the API's): a run over the explorer's user goes by id.
    html = admin.get(f"{new_run(project)}?user_id=ALICE").content.decode()
    assert 'data-testid="match-count">2<' in html and "<b>user_id</b>" in html


def test_suggestions_are_the_latest_traces_distinct_values(admin, project, other_project, monkeypatch):
    monkeypatch.setattr(annotations, "MAX_SUGGESTIONS", 2)
    now = timezone.now()
    for age, env, user in [(1, "prod", "u-new"), (2, "prod", None), (3, "qa", "u-mid"), (4, "dev", "u-old")]:
        TraceFactory(project=project, environment=env, user_id=user, started_at=now - timedelta(minutes=age))
    TraceFactory(project=other_project, environment="globex-env", user_id="globex-user")
    html = admin.get(explorer(project)).content.decode()
    envs = re.search(r'<datalist id="f-env-options">(.*?)</datalist>', html).group(1)
    users = re.search(r'<datalist id="f-user-options">(.*?)</datalist>', html).group(1)
    assert re.findall(r'value="([^"]+)"', envs) == ["prod", "qa"]
    assert re.findall(r'value="([^"]+)"', users) == ["u-new", "u-mid"]
    assert 'list="f-env-options"' in html and 'list="f-user-options"' in html
    assert "globex" not in html


def test_the_explorer_runs_a_constant_number_of_queries_with_selection_and_suggestions(
    project, admin_user, alice, admin, django_assert_max_num_queries
):
    build_queue(project, admin_user, [alice], n_traces=1)
    for index in range(40):
        trace = TraceFactory(project=project, environment=f"env-{index}", user_id=f"user-{index}")
        TraceScoreFactory(trace=trace, name="correctness", value="2")
    with django_assert_max_num_queries(9):
        html = admin.get(f"{explorer(project)}?score=correctness+%3C+3").content.decode()
    assert html.count('name="trace_ids"') == 40  # not the queue's own trace: it has no score


# --- a reversed date range ------------------------------------------------------------------------


@pytest.mark.parametrize("gap", [timedelta(hours=1), timedelta(0)])
def test_a_reversed_date_range_is_400_naming_both_fields(admin, project, gap):
    TraceFactory(project=project)
    after = "2024-05-02T10:00"
    before = (datetime.fromisoformat(after) - gap).strftime("%Y-%m-%dT%H:%M")
    response = admin.get(explorer(project), {"started_after": after, "started_before": before})
    html = response.content.decode()
    assert response.status_code == 400
    assert errors_of(html, "started_after") == ["Must be earlier than “Started before”."]
    assert errors_of(html, "started_before") == ["Must be later than “Started after”."]
    runs_page = admin.get(new_run(project), {"started_after": after, "started_before": before})
    assert runs_page.status_code == 400 and "Must be earlier" in runs_page.content.decode()


# --- the queue builder's filter -------------------------------------------------------------------


def test_the_queue_builder_shows_the_explorers_filter_boxes(admin, project):
    page = admin.get(explorer(project)).content.decode()
    filters = page[page.index('<form method="get" class="panel filters"') :].split("</form>")[0]
    builder = admin.get(new_queue(project)).content.decode()
    boxes = set(re.findall(r'<(?:input|select)[^>]* name="([a-z_]+)"', filters)) - {"sort_by", "sort_order"}
    assert {"score", "range", "environment", "user_id", "started_after", "has_score"} <= boxes
    assert {f"filter_{name}" for name in boxes} <= set(re.findall(r'name="(filter_[a-z_]+)"', builder))
    assert 'list="filter_f-env-options"' in builder and "data-range-preset" in builder


def test_preview_counts_the_matching_traces_and_creates_nothing(project, admin, alice, scored):
    data = queue_create_data(
        project, [alice], name="Kept name", filter_score="correctness < 3", action="preview", limit="1"
    )
    response = admin.post(new_queue(project), data)
    html = response.content.decode()
    assert response.status_code == 200 and not ReviewQueue.objects.exists()
    assert re.search(r'data-testid="match-count"><b>2</b> traces match; the queue takes the first 1\.', html)
    assert 'value="Kept name"' in html and 'value="correctness &lt; 3"' in html
    assert "errorlist" not in html  # a preview is no attempt to create: no required-field errors
    assert re.search(rf'name="reviewers" value="{alice.pk}" id="id_reviewers_\d" checked>', html)
    assert 'name="limit" value="1"' in html


def test_preview_with_a_bad_filter_is_400_under_the_field(project, admin, alice):
    response = admin.post(
        new_queue(project), queue_create_data(project, [alice], filter_score="correctness <", action="preview")
    )
    html = response.content.decode()
    assert response.status_code == 400 and "is not a score condition" in errors_of(html, "filter_score")[0]
    assert 'data-testid="match-count"' not in html


def test_new_queue_from_the_explorers_filter_is_prefilled_and_counted(admin, project, scored):
    html = admin.get(explorer(project), {"score": "correctness >= 4"}).content.decode()
    assert f'href="{new_queue(project)}?score=correctness+%3E%3D+4">New queue from this filter' in html
    builder = admin.get(new_queue(project), {"score": "correctness >= 4"}).content.decode()
    assert 'value="correctness &gt;= 4"' in builder
    assert 'data-testid="match-count"><b>2</b> traces match.' in builder
    unfiltered = admin.get(new_queue(project)).content.decode()
    assert 'data-testid="match-count"' not in unfiltered  # no filter, no count


def test_a_queue_from_the_explorers_filter_holds_its_traces_oldest_first(project, admin, alice):
    now = timezone.now()
    old = TraceFactory(project=project, name="old", environment="Prod", started_at=now - timedelta(hours=5))
    new = TraceFactory(project=project, name="new", environment="prod", started_at=now - timedelta(minutes=5))
    TraceFactory(project=project, environment="prod", started_at=now - timedelta(days=3))
    TraceFactory(project=project, environment="dev", started_at=now - timedelta(minutes=1))
    response = admin.post(
        new_queue(project), queue_create_data(project, [alice], filter_environment="PROD", filter_range="24h")
    )
    queue = ReviewQueue.objects.get()
    assert response.status_code == 302 and queued(queue) == [old.pk, new.pk]


def test_creating_with_a_bad_filter_is_422_naming_it_and_the_selection_ignores_the_filter(
    project, admin, alice
):
    trace = TraceFactory(project=project)
    bad = {"filter_started_after": "2024-05-02T10:00", "filter_started_before": "2024-05-01T10:00"}
    response = admin.post(new_queue(project), queue_create_data(project, [alice], **bad))
    html = response.content.decode()
    assert (
        response.status_code == 422
        and errors_of(html, "filter_started_after")
        and not ReviewQueue.objects.exists()
    )
    response = admin.post(
        new_queue(project), queue_create_data(project, [alice], source="selection", trace_ids=str(trace.pk), **bad)
    )
    assert response.status_code == 302 and queued(ReviewQueue.objects.get()) == [trace.pk]
