"""`/traces/analytics` answers the same from the hourly rollup (and the traces at the window's ends)
as from the traces alone, for every metric, granularity and kind of window."""

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics.selectors.operations import trace_analytics
from pandaprobe.traces.models import TraceHourStats

from ..factories import TraceFactory
from .test_operations import llm_span

START = datetime(2026, 1, 3, 0, 0, tzinfo=UTC)  # a Saturday: ten days cross a week's edge
METRICS = ["volume", "errors", "latency", "cost", "tokens", "models"]
WINDOWS = {
    "whole days": ("2026-01-03T00:00:00Z", "2026-01-13T00:00:00Z"),
    "cut inside hours": ("2026-01-03T05:17:03.250Z", "2026-01-11T19:42:00Z"),
    "one hour's part": ("2026-01-05T10:05:00Z", "2026-01-05T10:55:00Z"),
    "across an hour's edge": ("2026-01-05T10:30:00Z", "2026-01-05T11:30:00Z"),
    "a second": ("2026-01-05T10:00:00Z", "2026-01-05T10:00:01Z"),
    "ends on hours": ("2026-01-04T23:00:00Z", "2026-01-06T01:00:00Z"),
    "no traces": ("2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z"),
}


@pytest.fixture
def traces(api, project, other_project):
    rng = random.Random(11)
    for _ in range(400):
        started = START + timedelta(seconds=rng.randrange(10 * 86400), milliseconds=rng.randrange(1000))
        latency = rng.choice([None, rng.randint(1, 9000) + rng.random()])
        trace = TraceFactory(
            project=project, started_at=started, latency_ms=latency,
            ended_at=None if latency is None else started + timedelta(milliseconds=latency),
            status=rng.choice(["COMPLETED", "ERROR", "RUNNING"]), environment=rng.choice([None, "prod", "dev"]),
            total_tokens=rng.randint(0, 500), prompt_tokens=rng.randint(0, 300), completion_tokens=rng.randint(0, 200),
            total_cost=rng.randint(0, 1000) / 997, user_id=rng.choice(["ann", "bob"]), tags=[rng.choice(["a", "b"])],
        )  # fmt: skip
        for _ in range(rng.randint(0, 2)):
            usage = {"prompt_tokens": rng.randint(0, 50), "completion_tokens": rng.randint(0, 50)}
            llm_span(
                trace, model=rng.choice([f"model-{n}" for n in range(14)]), usage=usage, cost={"total": 0.125}
            )
    # Ingested ones too (the services keep the rollup), and another project's in the same hours.
    for minute in range(0, 120, 7):
        span = {
            "span_id": str(uuid.uuid4()),
            "name": "llm",
            "started_at": "2026-01-05T10:00:00Z",
            "model": "model-1",
        }
        started = (datetime(2026, 1, 5, 10, tzinfo=UTC) + timedelta(minutes=minute)).isoformat()
        body = {"trace_id": str(uuid.uuid4()), "name": "run", "started_at": started, "spans": [span]}
        assert api.post("/traces", body, format="json").status_code == 202
    TraceFactory(project=other_project, started_at=START + timedelta(hours=3))


def _same(rolled_up: list[dict], direct: list[dict]) -> None:
    assert len(rolled_up) == len(direct)
    for got, expected in zip(rolled_up, direct, strict=True):
        assert got.keys() == expected.keys()
        for name, value in expected.items():
            if isinstance(value, float):  # float sums taken in another order
                assert got[name] == pytest.approx(value, rel=1e-12), name
            else:
                assert got[name] == value, name


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("granularity", ["hour", "day", "week"])
def test_rollup_and_traces_give_the_same_answers(project, traces, window, granularity):
    after, before = WINDOWS[window]
    for metric in METRICS:
        for filters in ({}, {"environment": "prod"}, {"environment": "nowhere"}):
            params = {
                "started_after": after,
                "started_before": before,
                "granularity": granularity,
                "metric": metric,
            }
            params.update(filters)
            rolled_up = trace_analytics(project=project, params=params)
            direct = trace_analytics(project=project, params=params, rollup=False)
            assert rolled_up[0] == direct[0] == metric
            _same(rolled_up[1], direct[1])
            if window == "whole days" and not filters.get("environment") == "nowhere":
                assert direct[1], (metric, filters)  # the data is there: not two empty answers


def test_the_answer_is_read_from_the_rollup(project, traces):
    """Whole hours come from the rollup's rows, not the traces (a row changed behind the services'
    back shows); filters the rollup does not keep read the traces."""
    params = {"started_after": "2026-01-03T00:00:00Z", "started_before": "2026-01-13T00:00:00Z"}
    before = sum(row["trace_count"] for row in trace_analytics(project=project, params=params)[1])
    TraceHourStats.objects.filter(project=project, hour=START + timedelta(hours=1), model="").update(
        trace_count=1000
    )
    after = sum(row["trace_count"] for row in trace_analytics(project=project, params=params)[1])
    assert after > before + 900
    direct = sum(
        row["trace_count"] for row in trace_analytics(project=project, params=params, rollup=False)[1]
    )
    assert direct == before
    by_user = trace_analytics(project=project, params={**params, "user_id": "ann"})[1]
    assert sum(row["trace_count"] for row in by_user) < before


@pytest.mark.parametrize("metric", METRICS)
def test_the_rollup_answers_in_a_fixed_number_of_queries(project, traces, metric):
    """The rows for the whole hours, the traces of the two partial hours, and the latency percentiles
    (one query, whatever the number of buckets; with its savepoint and setting on PostgreSQL)."""
    params = {
        "started_after": "2026-01-03T05:17:03Z",
        "started_before": "2026-01-11T19:42:00Z",
        "metric": metric,
    }
    for granularity in ("hour", "day"):
        with CaptureQueriesContext(connection) as queries:
            trace_analytics(project=project, params={**params, "granularity": granularity})
        reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT")]
        assert len(reads) == (4 if metric == "latency" else 3), reads
