"""Operations analytics (`/traces/analytics`, `/sessions/analytics`, `/traces/users`): each figure
against values computed here from known traces."""

import statistics
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from pandaprobe.traces.models import TraceStatus
from pandaprobe.traces.services import span_token_split, span_total_cost, span_total_tokens

from ..factories import SpanFactory, TraceFactory

JAN = datetime(2026, 1, 1, tzinfo=UTC)  # a Thursday
WINDOW = {"started_after": "2025-12-01T00:00:00Z", "started_before": "2026-02-01T00:00:00Z"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def trace(project, started_at: datetime, latency_ms: float | None = 1000.0, **fields):
    ended_at = None if latency_ms is None else started_at + timedelta(milliseconds=latency_ms)
    return TraceFactory(
        project=project, started_at=started_at, ended_at=ended_at, latency_ms=latency_ms, **fields
    )


def analytics(api, **params):
    response = api.get("/traces/analytics", {**WINDOW, **params})
    assert response.status_code == 200, response.content
    return response.json()


def by_bucket(rows: list[dict], field: str) -> dict[str, object]:
    return {row["bucket"]: row[field] for row in rows}


# Buckets ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "granularity, times, expected",
    [
        (
            "hour",
            ["2026-01-01T10:00:00", "2026-01-01T10:59:59.999", "2026-01-01T11:00:00"],
            {"2026-01-01T10:00:00Z": 2, "2026-01-01T11:00:00Z": 1},
        ),
        (
            "day",
            ["2026-01-01T00:00:00", "2026-01-01T23:59:59.999", "2026-01-02T00:00:00"],
            {"2026-01-01T00:00:00Z": 2, "2026-01-02T00:00:00Z": 1},
        ),
        (  # 2026-01-04 is a Sunday: weeks start on Monday 00:00 UTC
            "week",
            ["2025-12-29T00:00:00", "2026-01-04T23:59:59.999", "2026-01-05T00:00:00"],
            {"2025-12-29T00:00:00Z": 2, "2026-01-05T00:00:00Z": 1},
        ),
    ],
)
def test_buckets_start_at_utc_edges(api, project, granularity, times, expected):
    for text in times:
        trace(project, at(text))
    rows = analytics(api, granularity=granularity)
    assert by_bucket(rows, "trace_count") == expected
    assert [row["bucket"] for row in rows] == sorted(expected)  # oldest first


def test_an_offset_in_the_window_is_read_in_utc(api, project):
    trace(project, at("2026-01-01T22:30:00"))  # 2026-01-02 00:30 in +02:00
    params = {"started_after": "2026-01-02T00:00:00+02:00", "started_before": "2026-01-02T01:00:00+02:00"}
    rows = api.get("/traces/analytics", {**params, "granularity": "day"}).json()
    assert by_bucket(rows, "trace_count") == {"2026-01-01T00:00:00Z": 1}


def test_the_window_includes_its_start_and_excludes_its_end(api, project):
    for text in ("2026-01-01T09:59:59", "2026-01-01T10:00:00", "2026-01-01T11:59:59", "2026-01-01T12:00:00"):
        trace(project, at(text))
    params = {"started_after": "2026-01-01T10:00:00Z", "started_before": "2026-01-01T12:00:00Z"}
    rows = api.get("/traces/analytics", {**params, "granularity": "hour"}).json()
    assert by_bucket(rows, "trace_count") == {"2026-01-01T10:00:00Z": 1, "2026-01-01T11:00:00Z": 1}


def test_volume_is_the_default_metric_and_day_the_default_granularity(api, project):
    trace(project, JAN + timedelta(hours=3))
    trace(project, JAN + timedelta(hours=5), status=TraceStatus.ERROR)
    assert analytics(api) == [
        {
            "bucket": "2026-01-01T00:00:00Z",
            "trace_count": 2,
            "error_count": 1,
            "avg_latency_ms": None,
            "p50_latency_ms": None,
            "p90_latency_ms": None,
            "p99_latency_ms": None,
        }
    ]
    assert analytics(api, metric="", granularity="") == analytics(api)


def test_errors_count_error_traces_per_bucket(api, project):
    statuses = [TraceStatus.ERROR, TraceStatus.COMPLETED, TraceStatus.ERROR, TraceStatus.RUNNING]
    for hour, status in enumerate(statuses):
        trace(project, JAN + timedelta(hours=hour), status=status)
    trace(project, JAN + timedelta(days=1), status=TraceStatus.ERROR)
    rows = analytics(api, metric="errors")
    assert by_bucket(rows, "error_count") == {"2026-01-01T00:00:00Z": 2, "2026-01-02T00:00:00Z": 1}
    assert by_bucket(rows, "trace_count") == {"2026-01-01T00:00:00Z": 4, "2026-01-02T00:00:00Z": 1}


# Latency -----------------------------------------------------------------------------------------


def test_latency_average_and_percentiles_per_bucket(api, project):
    first = [12.0, 250.5, 31.0, 990.0, 47.25, 5.0, 400.0, 88.0, 120.0, 3000.0, 61.0]
    second = [7.0, 700.0]
    for minute, latency in enumerate(first):
        trace(project, JAN + timedelta(minutes=minute), latency_ms=latency)
    trace(project, JAN + timedelta(minutes=30), latency_ms=None)  # still running: no latency yet
    for minute, latency in enumerate(second):
        trace(project, JAN + timedelta(days=1, minutes=minute), latency_ms=latency)
    rows = analytics(api, metric="latency")
    assert [row["trace_count"] for row in rows] == [len(first) + 1, len(second)]
    for row, latencies in zip(rows, [first, second], strict=True):
        # PostgreSQL's percentile_cont interpolates like the "inclusive" method
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        assert row["avg_latency_ms"] == pytest.approx(statistics.mean(latencies))
        assert row["p50_latency_ms"] == pytest.approx(cuts[49])
        assert row["p90_latency_ms"] == pytest.approx(cuts[89])
        assert row["p99_latency_ms"] == pytest.approx(cuts[98])


def test_a_bucket_of_running_traces_has_no_latency(api, project):
    trace(project, JAN, latency_ms=None)
    (row,) = analytics(api, metric="latency")
    assert row["trace_count"] == 1
    assert [row[f] for f in ("avg_latency_ms", "p50_latency_ms", "p90_latency_ms", "p99_latency_ms")] == [
        None
    ] * 4


# Tokens, cost, models ------------------------------------------------------------------------------


def llm_span(trace_, *, model="gpt-4o", usage=None, cost=None, **fields):
    """A span stored as ingestion would store it (its totals are not read from JSON at query time)."""
    prompt, completion = span_token_split(usage)
    return SpanFactory(
        trace=trace_,
        model=model,
        token_usage=usage,
        cost=cost,
        total_tokens=span_total_tokens(usage),
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_cost=span_total_cost(cost),
        **fields,
    )


def ingest(api, started_at: str, spans: list[dict]) -> None:
    body = {"trace_id": str(uuid.uuid4()), "name": "run", "started_at": started_at, "spans": spans}
    response = api.post("/traces", body, format="json")
    assert response.status_code == 202, response.content


def span(**fields) -> dict:
    return {"span_id": str(uuid.uuid4()), "name": "call", "started_at": "2026-01-01T00:00:00Z", **fields}


@pytest.mark.parametrize("metric", ["tokens", "cost"])
def test_tokens_and_cost_per_bucket_from_ingested_usage(api, metric):
    ingest(
        api,
        "2026-01-01T08:00:00Z",
        [
            span(
                kind="LLM", token_usage={"prompt_tokens": 100, "completion_tokens": 20}, cost={"total": 0.5}
            ),
            span(
                kind="LLM",
                token_usage={"input_tokens": 7, "output_tokens": 3},
                cost={"input": 0.01, "output": 0.02},
            ),
            span(kind="LLM", token_usage={"total_tokens": 50}),  # no split given: counts in the total only
        ],
    )
    ingest(api, "2026-01-01T09:00:00Z", [span(token_usage={"input": 4, "output": 6, "total_tokens": 11})])
    ingest(api, "2026-01-02T09:00:00Z", [])  # a trace without spans: its bucket, with nothing used
    assert analytics(api, metric=metric) == [
        {
            "bucket": "2026-01-01T00:00:00Z",
            "total_tokens": 120 + 10 + 50 + 11,
            "prompt_tokens": 100 + 7 + 4,
            "completion_tokens": 20 + 3 + 6,
            "total_cost": pytest.approx(0.5 + 0.03),
        },
        {
            "bucket": "2026-01-02T00:00:00Z",
            "total_tokens": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "total_cost": 0.0,
        },
    ]


def test_models_rank_the_windows_models_by_calls(api, project, other_project):
    inside, outside = trace(project, JAN), trace(project, at("2025-11-30T23:59:59"))
    for _ in range(3):
        llm_span(
            inside, model="gpt-4o", usage={"prompt_tokens": 10, "completion_tokens": 5}, cost={"total": 0.25}
        )
    for model in ("claude-3", "claude-3", "a-model", "b-model"):
        llm_span(inside, model=model, usage={"total_tokens": 2})
    SpanFactory(trace=inside, model=None, kind="TOOL")
    SpanFactory(trace=inside, model="", kind="TOOL")
    llm_span(outside, model="old-model")
    llm_span(trace(other_project, JAN), model="their-model")
    assert analytics(api, metric="models") == [
        {"model": "gpt-4o", "call_count": 3, "total_tokens": 45, "total_cost": pytest.approx(0.75)},
        {"model": "claude-3", "call_count": 2, "total_tokens": 4, "total_cost": 0.0},
        {"model": "a-model", "call_count": 1, "total_tokens": 2, "total_cost": 0.0},
        {"model": "b-model", "call_count": 1, "total_tokens": 2, "total_cost": 0.0},
    ]


def test_models_answer_the_top_ten(api, project):
    parent = trace(project, JAN)
    for index in range(12):
        for _ in range(index + 1):
            llm_span(parent, model=f"model-{index:02}")
    rows = analytics(api, metric="models")
    assert [row["model"] for row in rows] == [f"model-{index:02}" for index in range(11, 1, -1)]


# Filters ---------------------------------------------------------------------------------------------


def test_filters_narrow_the_traces(api, project):
    trace(project, JAN, environment="prod", user_id="ann", tags=["vip"])
    trace(project, JAN, environment="prod", user_id="bob", tags=["beta"])
    trace(project, JAN, environment="dev", user_id="ann")

    def count(**params) -> int:
        return sum(row["trace_count"] for row in analytics(api, **params))

    assert count() == 3
    assert count(environment="prod") == 2
    assert count(user_id="ann") == 2
    assert count(environment="prod", user_id="ann") == 1
    assert count(tags=["beta", "vip"]) == 2
    assert count(tags="nope") == 0


# Sessions ---------------------------------------------------------------------------------------------


def test_session_analytics_per_bucket_of_the_first_trace(api, project):
    # s1: three traces from 10:00 to 10:05 (its last ends 10:05:00.5); s2 starts at 23:59 and goes on
    # past midnight (its bucket is its first trace's day); s3 on the next day alone; no session: none.
    trace(project, at("2026-01-01T10:00:00"), 1000.0, session_id="s1")
    trace(project, at("2026-01-01T10:02:00"), 1000.0, session_id="s1")
    trace(project, at("2026-01-01T10:05:00"), 500.0, session_id="s1")
    trace(project, at("2026-01-01T23:59:00"), 2000.0, session_id="s2")
    trace(project, at("2026-01-02T00:01:00"), None, session_id="s2")  # not ended: its start counts
    trace(project, at("2026-01-02T12:00:00"), 250.0, session_id="s3")
    trace(project, at("2026-01-02T12:00:00"), 250.0)
    response = api.get("/sessions/analytics", WINDOW)
    assert response.status_code == 200, response.content
    s1_ms, s2_ms, s3_ms = 300_500.0, 120_000.0, 250.0
    assert response.json() == [
        {
            "bucket": "2026-01-01T00:00:00Z",
            "session_count": 2,
            "avg_traces_per_session": pytest.approx(2.5),
            "avg_session_duration_ms": pytest.approx((s1_ms + s2_ms) / 2),
        },
        {
            "bucket": "2026-01-02T00:00:00Z",
            "session_count": 1,
            "avg_traces_per_session": pytest.approx(1.0),
            "avg_session_duration_ms": pytest.approx(s3_ms),
        },
    ]
    hourly = api.get("/sessions/analytics", {**WINDOW, "granularity": "hour"}).json()
    assert by_bucket(hourly, "session_count") == {
        "2026-01-01T10:00:00Z": 1,
        "2026-01-01T23:00:00Z": 1,
        "2026-01-02T12:00:00Z": 1,
    }


def test_session_analytics_count_only_the_windows_traces(api, project):
    trace(project, at("2026-01-01T10:00:00"), 1000.0, session_id="s1", user_id="ann")
    trace(project, at("2026-01-01T11:00:00"), 1000.0, session_id="s1", user_id="bob")
    params = {"started_after": "2026-01-01T10:30:00Z", "started_before": "2026-01-02T00:00:00Z"}
    (row,) = api.get("/sessions/analytics", params).json()
    assert (row["bucket"], row["session_count"], row["avg_session_duration_ms"]) == (
        "2026-01-01T00:00:00Z",
        1,
        1000.0,
    )
    (row,) = api.get("/sessions/analytics", {**WINDOW, "user_id": "ann"}).json()
    assert row["avg_traces_per_session"] == 1.0


# Validation ------------------------------------------------------------------------------------------


def locs(response) -> list[list]:
    assert response.status_code == 422, response.content
    return sorted(error["loc"] for error in response.json()["detail"])


@pytest.mark.parametrize("path", ["/traces/analytics", "/sessions/analytics"])
def test_the_window_is_required(api, path):
    assert locs(api.get(path)) == [["query", "started_after"], ["query", "started_before"]]


@pytest.mark.parametrize("path", ["/traces/analytics", "/sessions/analytics"])
@pytest.mark.parametrize("before", ["2025-12-01T00:00:00Z", "2025-11-30T00:00:00Z"])
def test_a_window_that_does_not_run_forwards_is_refused(api, path, before):
    response = api.get(path, {**WINDOW, "started_before": before})
    assert locs(response) == [["query", "started_before"]]
    assert "later than started_after" in response.json()["detail"][0]["msg"]


def test_every_bad_parameter_is_named_at_once(api):
    params = {
        "metric": "p42",
        "granularity": "month",
        "started_after": "yesterday",
        "started_before": "2026-01-01",
    }
    assert locs(api.get("/traces/analytics", params)) == [
        ["query", "granularity"],
        ["query", "metric"],
        ["query", "started_after"],
    ]
    assert locs(api.get("/sessions/analytics", {**WINDOW, "granularity": "minute"})) == [
        ["query", "granularity"]
    ]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 201}, {"offset": -1}, {"limit": "x"}])
def test_users_page_parameters_are_checked(api, params):
    assert locs(api.get("/traces/users", params)) == [["query", next(iter(params))]]


# Users --------------------------------------------------------------------------------------------------


def test_users_with_their_trace_statistics_most_recent_first(api, project):
    trace(project, at("2026-01-01T10:00:00"), 500.0, user_id="ann", total_tokens=10, total_cost=0.5)
    trace(project, at("2026-01-03T10:00:00"), 2000.0, user_id="ann", total_tokens=5, status=TraceStatus.ERROR)
    trace(project, at("2026-01-02T10:00:00"), None, user_id="bob")
    trace(project, at("2026-01-05T10:00:00"))  # no user
    response = api.get("/traces/users")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "items": [
            {
                "user_id": "ann",
                "trace_count": 2,
                "first_seen": "2026-01-01T10:00:00Z",
                "last_seen": "2026-01-03T10:00:02Z",
                "error_count": 1,
                "total_tokens": 15,
                "total_cost": 0.5,
            },
            {
                "user_id": "bob",
                "trace_count": 1,
                "first_seen": "2026-01-02T10:00:00Z",
                "last_seen": "2026-01-02T10:00:00Z",
                "error_count": 0,
                "total_tokens": 0,
                "total_cost": 0.0,
            },
        ],
        "total": 2,
        "limit": 50,
        "offset": 0,
    }


def test_users_are_paginated_in_a_fixed_number_of_queries(api, project, django_assert_max_num_queries):
    for index in range(7):
        trace(project, JAN + timedelta(hours=index), user_id=f"user-{index}")
    trace(project, JAN + timedelta(hours=6), user_id="user-6b")  # same last seen: user_id decides
    # API key lookup, project, the page, the count
    with django_assert_max_num_queries(4):
        page = api.get("/traces/users", {"limit": 3, "offset": 1}).json()
    assert [item["user_id"] for item in page["items"]] == ["user-6b", "user-5", "user-4"]
    assert (page["total"], page["limit"], page["offset"]) == (8, 3, 1)


# Isolation and routes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, params",
    [
        ("/traces/analytics", WINDOW),
        ("/traces/analytics", {**WINDOW, "metric": "latency"}),
        ("/traces/analytics", {**WINDOW, "metric": "tokens"}),
        ("/traces/analytics", {**WINDOW, "metric": "models"}),
        ("/sessions/analytics", WINDOW),
        ("/traces/users", {}),
    ],
)
def test_another_projects_key_sees_none_of_the_data(api, other_api, project, path, params):
    theirs = trace(project, JAN, session_id="s", user_id="ann")
    llm_span(theirs, usage={"prompt_tokens": 1})
    control = api.get(path, params)
    assert control.status_code == 200
    assert control.json() not in ([], {"items": [], "total": 0, "limit": 50, "offset": 0})
    response = other_api.get(path, params)
    assert response.status_code == 200
    assert response.json() in ([], {"items": [], "total": 0, "limit": 50, "offset": 0})


@pytest.mark.parametrize("path", ["/traces/analytics", "/sessions/analytics", "/traces/users"])
def test_credentials_are_required(anon, api, path):
    assert anon.get(path, WINDOW).status_code == 401
    assert api.get(path, WINDOW).status_code == 200


def test_sessions_analytics_is_not_a_session(api, project):
    trace(project, JAN, session_id="analytics")
    trace(project, JAN, session_id="analytics/2026")
    response = api.get("/sessions/analytics", WINDOW)
    assert response.status_code == 200
    assert response.json()[0]["session_count"] == 2
    # Longer ids that start with it are still sessions.
    assert api.get("/sessions/analytics%2F2026").json()["session_id"] == "analytics/2026"
    assert api.get("/sessions/analytics2").status_code == 404


def test_traces_analytics_and_users_are_not_trace_ids(api, project):
    assert isinstance(api.get("/traces/analytics", WINDOW).json(), list)
    assert set(api.get("/traces/users").json()) == {"items", "total", "limit", "offset"}
    # The trace routes still take their ids.
    found = trace(project, JAN)
    assert api.get(f"/traces/{found.trace_id}").status_code == 200
    assert locs(api.get("/traces/analytics2")) == [["path", "trace_id"]]


def test_delete_on_sessions_analytics_still_deletes_that_session(api, project):
    trace(project, JAN, session_id="analytics")
    trace(project, JAN, session_id="kept")
    response = api.delete("/sessions/analytics")
    assert response.status_code == 200, response.content
    assert response.json() == {"deleted": 1}
    assert set(response["Allow"].split(", ")) == {"GET", "HEAD", "DELETE", "OPTIONS"}
    assert api.delete("/sessions/analytics").status_code == 404
    assert api.get("/sessions/kept").status_code == 200


def test_the_token_split_stays_right_as_a_trace_grows(api, project):
    trace_id, first = str(uuid.uuid4()), span(token_usage={"prompt_tokens": 10, "completion_tokens": 1})
    body = {"trace_id": trace_id, "name": "run", "started_at": "2026-01-01T08:00:00Z", "spans": [first]}
    assert api.post("/traces", body, format="json").status_code == 202
    added = span(token_usage={"input_tokens": 5, "output_tokens": 2})
    assert api.post(f"/traces/{trace_id}/spans", [added], format="json").status_code == 201
    patch = {"token_usage": {"prompt_tokens": 20, "completion_tokens": 2}}
    assert api.patch(f"/traces/{trace_id}/spans/{first['span_id']}", patch, format="json").status_code == 200
    again = {**body, "spans": [span(token_usage={"input": 1, "output": 1})]}
    assert api.post("/traces", again, format="json").status_code == 202
    (row,) = analytics(api, metric="tokens")
    assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (26, 5, 31)


def test_the_migration_fills_in_the_split_of_stored_spans(project):
    from importlib import import_module

    from django.apps import apps

    from pandaprobe.traces.models import Span, Trace

    stored = trace(project, JAN)
    llm_span(stored, usage={"prompt_tokens": 7, "completion_tokens": 3})
    llm_span(stored, usage={"input": 2, "total_tokens": 9})
    llm_span(trace(project, JAN), usage=None)
    import_module("pandaprobe.traces.migrations.0003_token_split").backfill(apps, None)
    assert sorted(Span.objects.values_list("prompt_tokens", "completion_tokens")) == [(0, 0), (2, 0), (7, 3)]
    assert Trace.objects.get(pk=stored.pk).prompt_tokens == 9
    assert Trace.objects.get(pk=stored.pk).completion_tokens == 3


@pytest.mark.parametrize("granularity", ["hour", "day", "week"])
def test_postgresql_knows_how_many_buckets_a_window_has(project, granularity):
    """The bucket statistics of traces migration 0004 match the SQL the selector sends when it reads
    the traces (a filter the hourly rollup does not keep): the planner estimates the bucket count
    instead of one group per trace."""
    from importlib import import_module

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from analytics.selectors.operations import trace_analytics

    if connection.vendor != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    with connection.schema_editor() as editor:  # the tests' tables come from the models, not migrations
        import_module("pandaprobe.traces.migrations.0004_started_bucket_statistics").create(None, editor)
    for half_hour in range(96):  # two a hour for two days
        trace(project, JAN + timedelta(minutes=30 * half_hour))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE traces_trace")
    with CaptureQueriesContext(connection) as queries:
        trace_analytics(project=project, params={**WINDOW, "granularity": granularity}, rollup=False)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + queries.captured_queries[-1]["sql"])
        estimated = cursor.fetchone()[0][0]["Plan"]["Plan Rows"]
    assert estimated == {"hour": 48, "day": 2, "week": 1}[granularity]
