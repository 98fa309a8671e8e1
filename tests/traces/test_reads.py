"""GET /traces, /sessions and /sessions/{id}: filters, sorts, pages, aggregates, query counts."""

from datetime import UTC, datetime, timedelta

import pytest

from pandaprobe.traces.models import Trace, TraceStatus

from ..factories import SpanFactory, TraceFactory

BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return BASE + timedelta(minutes=minutes)


def make_trace(project, minutes: float = 0, seconds: float = 1, **fields):
    started = at(minutes)
    return TraceFactory(
        project=project,
        started_at=started,
        ended_at=started + timedelta(seconds=seconds),
        latency_ms=seconds * 1000,
        **fields,
    )


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["name"] for item in response.json()["items"]]


@pytest.fixture
def traces(project, other_project):
    make_trace(project, 0, 90, name="alpha", status=TraceStatus.COMPLETED, session_id="s1", user_id="u1",
               tags=["a", "b"])  # fmt: skip
    make_trace(
        project, 1, 1, name="beta", status=TraceStatus.ERROR, session_id="s1", user_id="u1", tags=["c"]
    )
    make_trace(project, 2, 2, name="gamma", status=TraceStatus.RUNNING, session_id="s2", user_id="u2")
    make_trace(project, 3, 5, name="delta-alpha", status=TraceStatus.PENDING, tags=["b"])
    make_trace(other_project, 4, 1, name="alpha-of-globex", session_id="s1", user_id="u1", tags=["a"])


def test_list_envelope_newest_first_by_default(api, traces):
    body = api.get("/traces").json()
    assert set(body) == {"items", "total", "limit", "offset"}
    assert (body["total"], body["limit"], body["offset"]) == (4, 50, 0)
    assert [i["name"] for i in body["items"]] == ["delta-alpha", "gamma", "beta", "alpha"]
    assert set(body["items"][0]) == {
        "trace_id", "name", "status", "started_at", "ended_at", "session_id", "user_id", "tags",
        "environment", "release", "latency_ms", "span_count", "total_tokens", "total_cost",
    }  # fmt: skip


@pytest.mark.parametrize(
    "query, expected",
    [
        ("session_id=s1", ["beta", "alpha"]),
        ("status=ERROR", ["beta"]),
        ("user_id=u2", ["gamma"]),
        ("tags=a", ["alpha"]),
        ("tags=a&tags=c", ["beta", "alpha"]),
        ("tags=b", ["delta-alpha", "alpha"]),
        ("tags=zzz", []),
        ("name=ALPHA", ["delta-alpha", "alpha"]),
        ("name=et", ["beta"]),
        ("started_after=2026-03-01T12:01:00Z", ["delta-alpha", "gamma", "beta"]),
        ("started_before=2026-03-01T12:01:00Z", ["alpha"]),
        ("started_after=2026-03-01T12:01:00Z&started_before=2026-03-01T12:03:00Z", ["gamma", "beta"]),
        ("session_id=s1&status=COMPLETED", ["alpha"]),
        ("session_id=nope", []),
    ],
)
def test_list_filters(api, traces, query, expected):
    response = api.get(f"/traces?{query}")
    assert names(response) == expected
    assert response.json()["total"] == len(expected)


@pytest.mark.parametrize(
    "query, expected",
    [
        ("sort_by=started_at&sort_order=asc", ["alpha", "beta", "gamma", "delta-alpha"]),
        ("sort_by=ended_at", ["delta-alpha", "gamma", "alpha", "beta"]),
        ("sort_by=name&sort_order=asc", ["alpha", "beta", "delta-alpha", "gamma"]),
        ("sort_by=latency", ["alpha", "delta-alpha", "gamma", "beta"]),
        ("sort_by=latency&sort_order=asc", ["beta", "gamma", "delta-alpha", "alpha"]),
        ("sort_by=status&sort_order=asc", ["alpha", "beta", "delta-alpha", "gamma"]),
        ("sort_by=status", ["gamma", "delta-alpha", "beta", "alpha"]),
    ],
)
def test_list_sorts(api, traces, query, expected):
    assert names(api.get(f"/traces?{query}")) == expected


def test_list_pages(api, traces):
    first = api.get("/traces?limit=3&sort_order=asc").json()
    second = api.get("/traces?limit=3&offset=3&sort_order=asc").json()
    assert [i["name"] for i in first["items"]] == ["alpha", "beta", "gamma"]
    assert [i["name"] for i in second["items"]] == ["delta-alpha"]
    assert (second["total"], second["limit"], second["offset"]) == (4, 3, 3)
    assert api.get("/traces?limit=200&offset=100").json()["items"] == []


def test_sessions_aggregate_their_traces(api, project, traces):
    SpanFactory(trace=project.traces.get(name="alpha"))
    project.traces.filter(name="alpha").update(span_count=1, total_tokens=30, total_cost=0.5)
    project.traces.filter(name="beta").update(span_count=2, total_tokens=12, total_cost=0.25)

    body = api.get("/sessions").json()
    assert (body["total"], body["limit"], body["offset"]) == (2, 50, 0)
    s1, s2 = body["items"][1], body["items"][0]  # most recent first
    assert s1 == {
        "session_id": "s1",
        "trace_count": 2,
        "first_trace_at": "2026-03-01T12:00:00Z",
        "last_trace_at": "2026-03-01T12:01:30Z",
        "total_latency_ms": 91000.0,
        "has_error": True,
        "user_id": "u1",
        "tags": ["a", "b", "c"],
        "total_span_count": 3,
        "total_tokens": 42,
        "total_cost": 0.75,
    }
    assert (s2["session_id"], s2["trace_count"], s2["has_error"], s2["tags"]) == ("s2", 1, False, [])


@pytest.mark.parametrize(
    "query, expected",
    [
        ("", ["s2", "s1"]),
        ("sort_order=asc", ["s1", "s2"]),
        ("sort_by=trace_count", ["s1", "s2"]),
        ("sort_by=latency&sort_order=asc", ["s2", "s1"]),
        ("has_error=true", ["s1"]),
        ("has_error=false", ["s2"]),
        ("user_id=u2", ["s2"]),
        ("tags=c", ["s1"]),
        ("query=S2", ["s2"]),
        ("started_after=2026-03-01T12:01:30Z", ["s2"]),
        ("started_before=2026-03-01T12:00:30Z", ["s1"]),
        ("limit=1&offset=1", ["s1"]),
    ],
)
def test_session_filters_and_sorts(api, traces, query, expected):
    response = api.get(f"/sessions?{query}")
    assert response.status_code == 200, response.content
    assert [item["session_id"] for item in response.json()["items"]] == expected


def test_sessions_sort_by_cost(api, project, traces):
    project.traces.filter(session_id="s2").update(total_cost=9.0)
    assert [i["session_id"] for i in api.get("/sessions?sort_by=cost").json()["items"]] == ["s2", "s1"]


def test_session_detail_lists_its_traces_oldest_first_with_spans(api, project, traces):
    SpanFactory(trace=project.traces.get(name="beta"), name="llm")
    body = api.get("/sessions/s1").json()
    assert (body["session_id"], body["trace_count"], body["has_error"]) == ("s1", 2, True)
    assert [t["name"] for t in body["traces"]] == ["alpha", "beta"]
    assert [s["name"] for s in body["traces"][1]["spans"]] == ["llm"]
    assert body["traces"][0]["project_id"] == str(project.pk)
    paged = api.get("/sessions/s1?limit=1&offset=1").json()
    assert [t["name"] for t in paged["traces"]] == ["beta"] and paged["trace_count"] == 2


def test_session_detail_pages_200_traces_by_default_and_up_to_1000(api, project):
    Trace.objects.bulk_create(
        Trace(project=project, name=f"t{i}", started_at=at(i), session_id="long") for i in range(1001)
    )
    assert len(api.get("/sessions/long").json()["traces"]) == 200
    body = api.get("/sessions/long?limit=1000&offset=1").json()
    assert len(body["traces"]) == 1000 and body["traces"][0]["name"] == "t1" and body["trace_count"] == 1001


def test_delete_session_removes_its_traces_only(api, project, other_project, traces):
    response = api.delete("/sessions/s1")
    assert response.status_code == 200 and response.json() == {"deleted": 2}
    assert sorted(project.traces.values_list("name", flat=True)) == ["delta-alpha", "gamma"]
    assert other_project.traces.filter(session_id="s1").count() == 1
    assert api.get("/sessions/s1").status_code == 404


def _many_traces(project, count: int) -> None:
    for index in range(count):
        trace = make_trace(project, index, session_id=f"s{index}", tags=[f"t{index}"])
        SpanFactory.create_batch(2, trace=trace)


@pytest.mark.parametrize(
    "path, budget",
    [
        # key lookup + COUNT + page (+ one prefetch or tags query)
        ("/traces?limit={n}", 3),
        ("/sessions?limit={n}", 4),
        ("/sessions/s0?limit={n}", 5),
    ],
)
@pytest.mark.parametrize("count", [5, 50])
def test_list_query_counts_do_not_grow_with_the_page(
    api, project, django_assert_max_num_queries, path, budget, count
):
    _many_traces(project, count)
    project.traces.update(session_id="s0") if path.startswith("/sessions/") else None
    with django_assert_max_num_queries(budget):
        response = api.get(path.format(n=count))
    assert response.status_code == 200
    items = response.json().get("items", response.json().get("traces"))
    assert len(items) == count
