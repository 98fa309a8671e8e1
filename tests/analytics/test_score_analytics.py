"""Score analytics: each statistic against values worked out here from known data, the filters, the
bad parameters (422 naming them) and cross-project isolation. Runs on SQLite and PostgreSQL."""

import statistics
from datetime import UTC, datetime, timedelta

import pytest

from evaluations.models import ScoreConfig
from tests.errors import error_locs
from tests.factories import SessionScoreFactory, TraceFactory, TraceScoreFactory

BASE = "/evaluations/analytics"
T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday


def score(trace, name="accuracy", value=None, *, at=T0, status="SUCCESS", **fields):
    return TraceScoreFactory(
        trace=trace, name=name, value=None if value is None else str(value), numeric_value=value,
        status=status, created_at=at, **fields,
    )  # fmt: skip


def session_score(project, session_id, value, *, name="reliability", at=T0, status="SUCCESS", **fields):
    return SessionScoreFactory(
        project=project, session_id=session_id, name=name, value=None if value is None else str(value),
        numeric_value=value, status=status, created_at=at, **fields,
    )  # fmt: skip


def ok(response):
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def trace(project):
    return TraceFactory(project=project, environment="prod", session_id="s-1")


# Summary -----------------------------------------------------------------------------------------


def test_summary_statistics_per_metric(api, trace):
    values = [0.2, 0.9, 0.4, 0.6]  # an even count: the median is the mean of the middle two
    for i, value in enumerate(values):
        score(trace, "accuracy", value, at=T0 + timedelta(hours=i))
    score(trace, "accuracy", None, status="FAILED", at=T0 + timedelta(hours=9))
    score(trace, "accuracy", None, status="PENDING", at=T0 + timedelta(hours=1))
    score(trace, "safety", 1.0, at=T0)
    score(trace, "safety", 0.0, at=T0)
    score(trace, "safety", 0.5, at=T0)
    rows = ok(api.get(f"{BASE}/trace-scores/summary"))
    assert [row["metric_name"] for row in rows] == ["accuracy", "safety"]
    accuracy, safety = rows
    assert accuracy["avg_score"] == pytest.approx(statistics.mean(values))
    assert accuracy["median_score"] == pytest.approx(statistics.median(values)) == pytest.approx(0.5)
    assert (accuracy["min_score"], accuracy["max_score"]) == (0.2, 0.9)
    assert (accuracy["success_count"], accuracy["failed_count"]) == (4, 1)
    assert accuracy["latest_score_at"] == "2026-03-02T09:00:00Z"  # the FAILED one is the newest
    assert safety["median_score"] == pytest.approx(0.5) and safety["success_count"] == 3


def test_summary_of_a_metric_that_only_failed_has_no_values(api, trace):
    score(trace, "accuracy", None, status="FAILED")
    (row,) = ok(api.get(f"{BASE}/trace-scores/summary"))
    assert row["avg_score"] is None and row["median_score"] is None and row["min_score"] is None
    assert (row["success_count"], row["failed_count"]) == (0, 1)


def test_summary_filters(api, project, trace):
    staging = TraceFactory(project=project, environment="staging")
    score(trace, value=0.2, source="AUTOMATED", at=T0)
    score(trace, value=0.4, source="ANNOTATION", at=T0 + timedelta(days=1))
    score(staging, value=0.9, source="AUTOMATED", at=T0 + timedelta(days=2))

    def avg(**query):
        (row,) = ok(api.get(f"{BASE}/trace-scores/summary", query))
        return row["avg_score"], row["success_count"]

    assert avg(source="AUTOMATED") == (pytest.approx(0.55), 2)
    assert avg(environment="staging") == (0.9, 1)
    # date_from inclusive, date_to exclusive
    assert avg(date_from="2026-03-03T00:00:00Z", date_to="2026-03-04T00:00:00Z") == (0.4, 1)
    assert ok(api.get(f"{BASE}/trace-scores/summary", {"date_from": "2026-04-01T00:00:00Z"})) == []


# Trend -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granularity", "first", "second"),
    [
        # 23:59:59 and 00:00 fall on each side of every edge: hour, day (UTC) and week (Monday)
        ("hour", "2026-03-01T23:00:00Z", "2026-03-02T00:00:00Z"),
        ("day", "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"),
        ("week", "2026-02-23T00:00:00Z", "2026-03-02T00:00:00Z"),
    ],
)
def test_trend_buckets_edges_in_utc(api, trace, granularity, first, second):
    score(trace, value=0.2, at=T0 - timedelta(seconds=1))
    score(trace, value=0.4, at=T0 - timedelta(minutes=30))
    score(trace, value=1.0, at=T0)
    score(trace, value=0.0, at=T0 + timedelta(minutes=59))
    score(trace, value=None, status="FAILED", at=T0)  # not in the average, nor the count
    rows = ok(api.get(f"{BASE}/trace-scores/trend", {"metric_name": "accuracy", "granularity": granularity}))
    assert [(r["bucket"], r["count"], r["metric_name"]) for r in rows] == [
        (first, 2, "accuracy"),
        (second, 2, "accuracy"),
    ]
    assert [r["avg_score"] for r in rows] == [pytest.approx(0.3), pytest.approx(0.5)]


def test_trend_defaults_to_days_and_takes_the_date_range(api, trace):
    for day in range(3):
        score(trace, value=0.1 * (day + 1), at=T0 + timedelta(days=day, hours=5))
    rows = ok(
        api.get(
            f"{BASE}/trace-scores/trend", {"metric_name": "accuracy", "date_from": "2026-03-03T00:00:00Z"}
        )
    )
    assert [r["bucket"] for r in rows] == ["2026-03-03T00:00:00Z", "2026-03-04T00:00:00Z"]
    other_week = T0 + timedelta(days=7)  # the next Monday: a week bucket of its own
    score(trace, value=0.5, at=other_week)
    rows = ok(api.get(f"{BASE}/trace-scores/trend", {"metric_name": "accuracy", "granularity": "week"}))
    assert [(r["bucket"], r["count"]) for r in rows] == [
        ("2026-03-02T00:00:00Z", 3),
        ("2026-03-09T00:00:00Z", 1),
    ]


# Distribution ------------------------------------------------------------------------------------


def test_distribution_returns_every_bucket_and_puts_one_in_the_last(api, trace):
    values = [0.0, 0.05, 0.25, 0.5, 0.75, 1.0, 1.0]
    for value in values:
        score(trace, value=value)
    score(trace, value=None, status="FAILED")
    rows = ok(api.get(f"{BASE}/trace-scores/distribution", {"metric_name": "accuracy", "buckets": 4}))
    assert [(r["bucket"], r["bucket_min"], r["bucket_max"]) for r in rows] == [
        (1, 0.0, 0.25), (2, 0.25, 0.5), (3, 0.5, 0.75), (4, 0.75, 1.0),
    ]  # fmt: skip
    # [0, .25): 0, .05 | [.25, .5): .25 | [.5, .75): .5 | [.75, 1]: .75, 1, 1
    assert [r["count"] for r in rows] == [2, 1, 1, 3]
    rows = ok(api.get(f"{BASE}/trace-scores/distribution", {"metric_name": "accuracy"}))
    assert len(rows) == 10 and sum(r["count"] for r in rows) == len(values)
    assert [r["count"] for r in rows] == [2, 0, 1, 0, 0, 1, 0, 1, 0, 2]  # empty buckets are there


def test_distribution_uses_the_score_configs_scale(api, project, trace):
    ScoreConfig.objects.create(project=project, name="stars", min_value=1, max_value=5)
    for value in (1, 2, 3, 5):
        score(trace, "stars", value)
    rows = ok(api.get(f"{BASE}/trace-scores/distribution", {"metric_name": "stars", "buckets": 2}))
    assert [(r["bucket_min"], r["bucket_max"], r["count"]) for r in rows] == [(1.0, 3.0, 2), (3.0, 5.0, 2)]


def test_one_bucket_holds_everything(api, trace):
    for value in (0.0, 0.3, 1.0):
        score(trace, value=value)
    rows = ok(api.get(f"{BASE}/trace-scores/distribution", {"metric_name": "accuracy", "buckets": 1}))
    assert rows == [{"bucket": 1, "bucket_min": 0.0, "bucket_max": 1.0, "count": 3}]


# Bad parameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("trace-scores/trend", {}, "metric_name"),
        ("trace-scores/trend", {"metric_name": ""}, "metric_name"),
        ("trace-scores/trend", {"metric_name": "a", "granularity": "month"}, "granularity"),
        ("trace-scores/distribution", {"metric_name": "a", "buckets": "0"}, "buckets"),
        ("trace-scores/distribution", {"metric_name": "a", "buckets": "101"}, "buckets"),
        ("trace-scores/distribution", {"metric_name": "a", "buckets": "ten"}, "buckets"),
        ("trace-scores/distribution", {"buckets": "10"}, "metric_name"),
        (
            "trace-scores/summary",
            {"date_from": "2026-03-02T00:00:00Z", "date_to": "2026-03-01T00:00:00Z"},
            "date_to",
        ),
        ("trace-scores/summary", {"date_from": "yesterday"}, "date_from"),
        ("trace-scores/summary", {"source": "ROBOT"}, "source"),
        ("session-scores/trend", {"granularity": "day"}, "metric_name"),
        ("session-scores/distribution", {"metric_name": "a", "buckets": "101"}, "buckets"),
        (
            "session-scores/summary",
            {"date_from": "2026-03-02T00:00:00Z", "date_to": "2026-03-01T00:00:00Z"},
            "date_to",
        ),
        ("session-scores/comparison", {"metric_name": "a", "sort_order": "up"}, "sort_order"),
        ("session-scores/comparison", {"metric_name": "a", "limit": "101"}, "limit"),
        ("session-scores/comparison", {"sort_order": "asc"}, "metric_name"),
        ("session-scores/history/s-1", {"limit": "201"}, "limit"),
        ("trace-scores/agreement", {}, "metric_name"),
        ("trace-scores/agreement", {"metric_name": "a", "threshold": "high"}, "threshold"),
        ("trace-scores/agreement", {"metric_name": "a", "threshold": "inf"}, "threshold"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(api, trace, path, query, field):
    response = api.get(f"{BASE}/{path}", query)
    assert error_locs(response) == [field]


def test_every_bad_parameter_is_named_at_once(api):
    response = api.get(f"{BASE}/trace-scores/distribution", {"buckets": "0", "date_from": "x"})
    assert sorted(error_locs(response)) == ["buckets", "date_from", "metric_name"]


# Session scores ----------------------------------------------------------------------------------


def test_session_summary_trend_and_distribution(api, project):
    for i, value in enumerate([0.1, 0.3, 0.8]):
        session_score(project, f"s-{i}", value, at=T0 + timedelta(hours=i))
    session_score(project, "s-9", None, status="FAILED")
    (row,) = ok(api.get(f"{BASE}/session-scores/summary"))
    assert row["metric_name"] == "reliability" and row["median_score"] == pytest.approx(0.3)
    assert row["avg_score"] == pytest.approx(0.4) and (row["success_count"], row["failed_count"]) == (3, 1)
    trend = ok(api.get(f"{BASE}/session-scores/trend", {"metric_name": "reliability", "granularity": "hour"}))
    assert [(r["bucket"][11:16], r["count"]) for r in trend] == [("00:00", 1), ("01:00", 1), ("02:00", 1)]
    counts = [
        r["count"]
        for r in ok(
            api.get(f"{BASE}/session-scores/distribution", {"metric_name": "reliability", "buckets": 2})
        )
    ]
    assert counts == [2, 1]


def test_session_history_is_every_evaluation_oldest_first(api, project, trace):
    scores = [session_score(project, "s-1", 0.1 * (i + 1), at=T0 + timedelta(days=i)) for i in range(4)]
    session_score(project, "s-1", None, status="FAILED", at=T0 + timedelta(days=5))
    session_score(project, "s-1", 0.9, name="consistency", at=T0 + timedelta(days=6))
    rows = ok(api.get(f"{BASE}/session-scores/history/s-1", {"metric_name": "reliability"}))
    assert [r["score"] for r in rows] == [pytest.approx(v) for v in (0.1, 0.2, 0.3, 0.4)] + [None]
    assert rows[0]["created_at"] == "2026-03-02T00:00:00Z" and rows[-1]["status"] == "FAILED"
    assert rows[0]["metric_name"] == "reliability" and rows[0]["eval_run_id"] is None
    newest = ok(api.get(f"{BASE}/session-scores/history/s-1", {"limit": 2}))
    assert [(r["metric_name"], r["score"]) for r in newest] == [("reliability", None), ("consistency", 0.9)]
    assert len(scores) == 4


def test_session_history_of_a_session_without_scores_is_empty(api, trace):
    assert ok(api.get(f"{BASE}/session-scores/history/s-1")) == []


def test_comparison_ranks_each_sessions_latest_score(api, project):
    session_score(project, "a", 0.9, at=T0)
    session_score(project, "a", 0.2, at=T0 + timedelta(days=1))  # a's latest: the worst
    session_score(project, "b", 0.5, at=T0)
    session_score(project, "c", 0.7, at=T0)
    session_score(project, "d", None, status="FAILED", at=T0)  # no value: last either way
    session_score(project, "b", 0.1, name="other", at=T0 + timedelta(days=2))
    page = ok(api.get(f"{BASE}/session-scores/comparison", {"metric_name": "reliability"}))
    assert (page["total"], page["limit"], page["offset"]) == (4, 20, 0)
    assert [(i["session_id"], i["score"]) for i in page["items"]] == [
        ("a", 0.2),
        ("b", 0.5),
        ("c", 0.7),
        ("d", None),
    ]
    assert page["items"][0]["evaluated_at"] == "2026-03-03T00:00:00Z"
    desc = ok(
        api.get(
            f"{BASE}/session-scores/comparison",
            {"metric_name": "reliability", "sort_order": "desc", "limit": 2, "offset": 1},
        )
    )
    assert [i["session_id"] for i in desc["items"]] == ["b", "a"] and desc["total"] == 4


# Isolation ---------------------------------------------------------------------------------------

COLLECTIONS = [
    "trace-scores/summary", "trace-scores/trend?metric_name=accuracy",
    "trace-scores/distribution?metric_name=accuracy", "trace-scores/agreement?metric_name=accuracy",
    "session-scores/summary", "session-scores/trend?metric_name=reliability",
    "session-scores/distribution?metric_name=reliability", "session-scores/comparison?metric_name=reliability",
]  # fmt: skip


def _counted(body) -> int:
    """How many scores an answer counts, whatever its shape."""
    if isinstance(body, dict) and "items" in body:
        return len(body["items"])
    if isinstance(body, dict):
        return body["judge_vs_human"]["pair_count"]
    return sum(row.get("count", row.get("success_count", 0)) for row in body)


@pytest.mark.parametrize("path", COLLECTIONS)
def test_another_projects_key_sees_none_of_the_scores(api, other_api, project, trace, path):
    score(trace, value=0.5, source="AUTOMATED")
    score(trace, value=0.7, source="ANNOTATION")
    session_score(project, "s-1", 0.5)
    assert _counted(ok(api.get(f"{BASE}/{path}"))) > 0  # the control: the owner sees them
    assert _counted(ok(other_api.get(f"{BASE}/{path}"))) == 0


def test_another_projects_session_history_is_404(api, other_api, project, trace):
    session_score(project, "s-1", 0.5)
    assert len(ok(api.get(f"{BASE}/session-scores/history/s-1"))) == 1
    response = other_api.get(f"{BASE}/session-scores/history/s-1")
    assert response.status_code == 404 and response.json() == {"detail": "Session not found"}


def test_a_session_id_with_a_slash(api, project):
    TraceFactory(project=project, session_id="team/chat 1")
    session_score(project, "team/chat 1", 0.5)
    rows = ok(api.get(f"{BASE}/session-scores/history/team%2Fchat%201"))
    assert [r["score"] for r in rows] == [0.5]


def test_credentials_are_required(anon):
    assert anon.get(f"{BASE}/trace-scores/summary").status_code == 401
