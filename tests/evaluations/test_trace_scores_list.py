"""GET /evaluations/trace-scores: filters, their boundaries, pagination and query counts."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ..errors import error_locs
from ..factories import TraceFactory, TraceScoreFactory, eval_run

URL = "/evaluations/trace-scores"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def ids(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [item["id"] for item in response.json()["items"]]


@pytest.fixture
def trace(project):
    return TraceFactory(project=project, environment="prod")


def test_newest_first_with_envelope(api, trace):
    scores = [TraceScoreFactory(trace=trace, created_at=T0 + timedelta(minutes=i)) for i in range(3)]
    response = api.get(URL)
    assert ids(response) == [str(s.pk) for s in reversed(scores)]
    assert response.json()["total"] == 3 and response.json()["limit"] == 50 and response.json()["offset"] == 0


def test_equal_created_at_is_ordered_by_higher_id_first(api, trace):
    low = TraceScoreFactory(trace=trace, id=uuid.UUID(int=1), created_at=T0)
    high = TraceScoreFactory(trace=trace, id=uuid.UUID(int=2**127), created_at=T0)
    assert ids(api.get(URL)) == [str(high.pk), str(low.pk)]


def test_only_the_projects_scores(api, other_api, trace):
    mine = TraceScoreFactory(trace=trace)
    theirs = TraceScoreFactory(trace=TraceFactory(project=other_api.project))
    assert ids(api.get(URL)) == [str(mine.pk)]
    assert ids(other_api.get(URL)) == [str(theirs.pk)]
    # Filtering on another project's trace finds nothing rather than leaking it.
    assert ids(api.get(URL, {"trace_id": str(theirs.trace_id)})) == []


def test_filter_by_trace_id(api, trace, project):
    mine = TraceScoreFactory(trace=trace)
    TraceScoreFactory(trace=TraceFactory(project=project))
    assert ids(api.get(URL, {"trace_id": str(trace.pk)})) == [str(mine.pk)]


def test_filter_by_name_is_exact(api, trace):
    exact = TraceScoreFactory(trace=trace, name="accuracy")
    TraceScoreFactory(trace=trace, name="accuracy_v2")
    TraceScoreFactory(trace=trace, name="Accuracy")
    assert ids(api.get(URL, {"name": "accuracy"})) == [str(exact.pk)]


@pytest.mark.parametrize(
    ("field", "wanted", "others"),
    [
        ("source", "PROGRAMMATIC", ["AUTOMATED", "ANNOTATION"]),
        ("status", "FAILED", ["SUCCESS", "PENDING"]),
        ("data_type", "CATEGORICAL", ["NUMERIC", "BOOLEAN"]),
    ],
)
def test_filter_by_enum(api, trace, field, wanted, others):
    match = TraceScoreFactory(trace=trace, **{field: wanted})
    for other in others:
        TraceScoreFactory(trace=trace, **{field: other})
    assert ids(api.get(URL, {field: wanted})) == [str(match.pk)]


def test_filter_by_eval_run_id(api, trace):
    run = eval_run(trace.project)
    match = TraceScoreFactory(trace=trace, eval_run_id=run)
    TraceScoreFactory(trace=trace, eval_run_id=eval_run(trace.project))
    TraceScoreFactory(trace=trace)
    assert ids(api.get(URL, {"eval_run_id": str(run)})) == [str(match.pk)]


def test_filter_by_environment(api, trace, project):
    match = TraceScoreFactory(trace=trace)  # "prod" from the trace
    TraceScoreFactory(trace=TraceFactory(project=project, environment="staging"))
    TraceScoreFactory(trace=TraceFactory(project=project, environment=None))
    assert ids(api.get(URL, {"environment": "prod"})) == [str(match.pk)]


def test_date_from_is_inclusive_and_date_to_exclusive(api, trace):
    before = TraceScoreFactory(trace=trace, created_at=T0 - timedelta(microseconds=1))
    at_start = TraceScoreFactory(trace=trace, created_at=T0)
    inside = TraceScoreFactory(trace=trace, created_at=T0 + timedelta(minutes=30))
    at_end = TraceScoreFactory(trace=trace, created_at=T0 + timedelta(hours=1))
    start, end = T0.isoformat(), (T0 + timedelta(hours=1)).isoformat()
    assert ids(api.get(URL, {"date_from": start, "date_to": end})) == [str(inside.pk), str(at_start.pk)]
    assert ids(api.get(URL, {"date_from": start})) == [str(at_end.pk), str(inside.pk), str(at_start.pk)]
    assert ids(api.get(URL, {"date_to": start})) == [str(before.pk)]
    assert ids(
        api.get(URL, {"date_from": "2026-03-01T12:00:00Z", "date_to": "2026-03-01T12:00:00.000001Z"})
    ) == [str(at_start.pk)]


def test_filters_combine(api, trace, project):
    match = TraceScoreFactory(trace=trace, name="a", source="PROGRAMMATIC", created_at=T0)
    TraceScoreFactory(trace=trace, name="a", source="ANNOTATION", created_at=T0)
    TraceScoreFactory(trace=trace, name="b", source="PROGRAMMATIC", created_at=T0)
    assert ids(api.get(URL, {"name": "a", "source": "PROGRAMMATIC", "trace_id": str(trace.pk)})) == [
        str(match.pk)
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"source": "HUMAN"}, "source"),
        ({"status": "success"}, "status"),
        ({"data_type": "TEXT"}, "data_type"),
        ({"trace_id": "abc"}, "trace_id"),
        ({"eval_run_id": "123"}, "eval_run_id"),
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_to": "2026-13-01"}, "date_to"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"offset": "-1"}, "offset"),
        # Times that exist only outside UTC's calendar: the database adapters overflowed (a 500).
        ({"date_from": "0001-01-01T00:00:00+01:00"}, "date_from"),
        ({"date_from": "9999-12-31T23:59:59-01:00"}, "date_from"),
        ({"date_to": "0001-01-01T00:00:00+14:00"}, "date_to"),
    ],
)
def test_invalid_parameters_are_422_naming_them(api, trace, params, field):
    TraceScoreFactory(trace=trace)
    response = api.get(URL, params)
    assert error_locs(response) == [field]
    assert response.json()["detail"][0]["loc"] == ["query", field]


def test_pagination_limits_and_offset(api, trace):
    scores = [TraceScoreFactory(trace=trace, created_at=T0 + timedelta(seconds=i)) for i in range(5)]
    newest_first = [str(s.pk) for s in reversed(scores)]
    page = api.get(URL, {"limit": 2, "offset": 1})
    assert ids(page) == newest_first[1:3]
    assert page.json()["total"] == 5 and page.json()["limit"] == 2 and page.json()["offset"] == 1
    assert ids(api.get(URL, {"limit": 1})) == newest_first[:1]
    assert ids(api.get(URL, {"limit": 200})) == newest_first
    assert ids(api.get(URL, {"offset": 5})) == []
    assert api.get(URL, {"offset": 5}).json()["total"] == 5


def test_default_page_is_50(api, trace):
    TraceScoreFactory.create_batch(51, trace=trace)
    page = api.get(URL).json()
    assert len(page["items"]) == 50 and page["total"] == 51


def _statements(api, params) -> tuple[int, dict]:
    """SQL statements a list request runs, leaving out transaction control (on PostgreSQL the
    total is counted in a transaction with SET LOCAL)."""
    with CaptureQueriesContext(connection) as context:
        response = api.get(URL, params)
    control = ("SAVEPOINT", "RELEASE", "SET LOCAL")
    return sum(not q["sql"].startswith(control) for q in context.captured_queries), response.json()


def test_list_query_count_does_not_grow_with_rows(api, project, admin_user):
    TraceScoreFactory(trace=TraceFactory(project=project), author=admin_user)
    few, _ = _statements(api, {"limit": 30})
    for _ in range(30):
        TraceScoreFactory(trace=TraceFactory(project=project), author=admin_user)
    many, page = _statements(api, {"limit": 30})
    assert len(page["items"]) == 30
    assert few == many <= 3  # the key lookup, the COUNT and the page; nothing per row


def test_list_total_is_exact(api, trace, project):
    TraceScoreFactory.create_batch(7, trace=trace, name="a")
    TraceScoreFactory.create_batch(3, trace=trace, name="b")
    assert api.get(URL, {"name": "a", "limit": 2}).json()["total"] == 7
    assert api.get(URL, {"limit": 2}).json()["total"] == 10
