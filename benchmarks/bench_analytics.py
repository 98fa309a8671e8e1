"""Score analytics at scale: 1,000,000 trace scores over 8 metrics in PostgreSQL, through HTTP.

The data: 112,500 traces (a quarter in `staging`) over 90 days, each scored by the judge on the 8
trace metrics (2% FAILED), and 100,000 of them annotated by one of 5 reviewers on `task_completion`
(100,000 judge-vs-human pairs): 1,000,000 trace scores. Sessions of 10 traces, each scored 3 times
on 2 session metrics (67,500 session scores). Loaded with `INSERT ... SELECT FROM generate_series`
into a database of its own (`bench_analytics`), kept and reused by later runs; the SQL bypasses the
score services, so the hourly score rollups are then rebuilt (`score_rollup_rebuild`).

Each endpoint is timed through the real HTTP API (gunicorn, DEBUG off, API-key authentication),
p50 and p95 over `samples` requests after a warm-up. Targets: summary p50 < 200 ms; trend,
distribution and comparison p50 < 100 ms; agreement over 100,000 pairs p50 < 300 ms.
`--quick` loads 1% of the data (its own database) and takes fewer samples: it checks that the
benchmark works, its figures mean little. Options (`-o key=value`): samples=30, workers=2.
"""

import http.client
import json
import os
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import row  # noqa: E402

NAME = "analytics"
PROJECT = "bench-analytics"
METRICS = (
    "task_completion", "tool_correctness", "argument_correctness", "step_efficiency",
    "plan_adherence", "plan_quality", "confidence", "coherence",
)  # fmt: skip
SESSION_METRICS = ("agent_reliability", "agent_consistency")
REVIEWERS = 5
FULL = {"traces": 112_500, "pairs": 100_000, "samples": "30"}
QUICK = {"traces": 1_125, "pairs": 1_000, "samples": "5"}
DAYS = 90
BASE = "/evaluations/analytics"


def run(args) -> list[dict]:
    server = getattr(args, "database_url", None) or os.environ.get("DATABASE_URL", "")
    if urlparse(server).scheme not in ("postgres", "postgresql"):
        return [row(f"{NAME}: skipped (needs a postgres:// DATABASE_URL)", "skipped")]
    quick = getattr(args, "quick", False)
    scale = QUICK if quick else FULL
    opts = {"samples": scale["samples"], "workers": "2", **getattr(args, "options", {})}
    rows = [row(f"{NAME}: machine already busy before the run", round(common.busy_cores(), 2), "cores")]
    database = "bench_analytics_quick" if quick else "bench_analytics"
    env = common.env_at_schema(server, args, database=database, namespace=f"bench-{NAME}")
    prepared = common.child(env, __file__, "--prepare", json.dumps(scale))
    rows += prepared["rows"]
    port = common.free_port()
    log = common.RESULTS / NAME / "gunicorn.log"
    with common.process(
        common.gunicorn_args("sync", int(opts["workers"]), 1, port), env, log=log
    ) as server_process:
        common.wait_for_http(f"http://127.0.0.1:{port}/health", timeout=180, process=server_process)
        rows += _timed_rows(port, prepared["headers"], int(opts["samples"]), scale)
    return rows


# --- in the parent: timing over HTTP ----------------------------------------------------------------


def _get(connection: http.client.HTTPConnection, path: str, headers: dict) -> float:
    started = time.perf_counter()
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}: {body[:300]!r}")
    return elapsed


def _latencies(port: int, headers: dict, paths: list[str]) -> list[float]:
    """One request per path, each on a fresh connection (gunicorn's sync workers close them)."""
    times = []
    for index, path in enumerate([*paths[:3], *paths]):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            elapsed = _get(connection, path, headers)
        finally:
            connection.close()
        if index >= 3:  # the first three warm the workers, their connections and caches
            times.append(elapsed)
    return times


def _endpoints(samples: int, sessions: int) -> dict[str, tuple[list[str], float | None]]:
    """label -> (paths to request, p50 target in ms or None)."""

    def each_metric(path: str, metrics=METRICS, **query) -> list[str]:
        return [
            f"{BASE}/{path}?{urlencode({'metric_name': metrics[i % len(metrics)], **query})}"
            for i in range(samples)
        ]

    recent = "2026-03-02T00:00:00Z"  # the last 30 of the 90 days
    return {
        "trace summary (all 1M scores)": ([f"{BASE}/trace-scores/summary"] * samples, 200),
        "trace summary, last 30 days": ([f"{BASE}/trace-scores/summary?date_from={recent}"] * samples, 200),
        "trace trend, day": (each_metric("trace-scores/trend"), 100),
        "trace trend, hour, last 30 days": (each_metric("trace-scores/trend", granularity="hour", date_from=recent), 100),
        "trace distribution, 10 buckets": (each_metric("trace-scores/distribution"), 100),
        "trace distribution, 100 buckets, staging": (each_metric("trace-scores/distribution", buckets=100, environment="staging"), None),
        "session summary": ([f"{BASE}/session-scores/summary"] * samples, None),
        "session comparison, worst 20": (each_metric("session-scores/comparison", SESSION_METRICS), 100),
        "session comparison, desc, offset 5000": (each_metric("session-scores/comparison", SESSION_METRICS, sort_order="desc", offset=5000), 100),
        "session history": ([f"{BASE}/session-scores/history/sess-{i * 37 % sessions}" for i in range(samples)], None),
        "agreement task_completion": (each_metric("trace-scores/agreement", ("task_completion",)), 300),
    }  # fmt: skip


def _timed_rows(port: int, headers: dict, samples: int, scale: dict) -> list[dict]:
    rows = []
    for label, (paths, target) in _endpoints(samples, scale["traces"] // 10).items():
        times = _latencies(port, headers, paths)
        p50, p95 = statistics.median(times), common.percentile(times, 95)
        ok = None if target is None else p50 < target
        rows.append(row(f"{NAME}: {label} p50", round(p50, 1), "ms", f"< {target}" if target else None, ok))
        rows.append(row(f"{NAME}: {label} p95", round(p95, 1), "ms"))
    return rows


# --- in the child: seeding ------------------------------------------------------------------------

TRACES_SQL = """
    INSERT INTO traces_trace (trace_id, project_id, name, status, metadata, started_at, ended_at, session_id,
        user_id, tags, environment, latency_ms, span_count, total_tokens, prompt_tokens, completion_tokens, total_cost,
        created_at, updated_at)
    SELECT md5(%(project)s || '-' || g)::uuid, %(project)s::uuid, 'agent-' || (g %% 50), 'COMPLETED', '{}',
        t, t + interval '3 seconds', 'sess-' || (g / 10), 'user-' || (g %% 1000), '[]',
        CASE WHEN g %% 4 = 0 THEN 'staging' ELSE 'prod' END, 3000, 0, 0, 0, 0, 0, t, t
    FROM generate_series(0, %(traces)s - 1) g,
        LATERAL (SELECT %(t0)s::timestamptz + (g * %(step)s) * interval '1 second' AS t) at_time
"""
# The judge's scores: every trace on every metric, 2% FAILED (no value). `random()` is drawn per row
# in a subquery: an uncorrelated LATERAL was evaluated once, giving every score one value and none
# FAILED (`_seed` reloads data made that way).
JUDGE_SQL = """
    INSERT INTO evaluations_tracescore (id, project_id, trace_id, name, value, numeric_value, data_type,
        source, status, metadata, environment, created_at, updated_at)
    SELECT gen_random_uuid(), %(project)s::uuid, trace_id, metric,
        CASE WHEN failed THEN NULL ELSE value::text END, CASE WHEN failed THEN NULL ELSE value END,
        'NUMERIC', 'AUTOMATED', CASE WHEN failed THEN 'FAILED' ELSE 'SUCCESS' END, '{}', environment,
        started_at + interval '1 minute', started_at + interval '1 minute'
    FROM (
        SELECT trace_id, metric, environment, started_at, random() < 0.02 AS failed,
            round(random()::numeric, 3)::float8 AS value
        FROM traces_trace, unnest(%(metrics)s::text[]) metric WHERE project_id = %(project)s::uuid
    ) judged
"""
# One reviewer's annotation of task_completion on the first `pairs` traces, near the judge's value.
HUMAN_SQL = """
    INSERT INTO evaluations_tracescore (id, project_id, trace_id, name, value, numeric_value, data_type,
        source, status, metadata, environment, author_id, created_at, updated_at)
    SELECT gen_random_uuid(), %(project)s::uuid, s.trace_id, s.name, v::text, v, 'NUMERIC', 'ANNOTATION',
        'SUCCESS', '{}', s.environment, (%(reviewers)s::int[])[1 + (row_number() OVER () %% %(n_reviewers)s)],
        s.created_at + interval '1 hour', s.created_at + interval '1 hour'
    FROM (SELECT * FROM evaluations_tracescore WHERE project_id = %(project)s::uuid
          AND name = 'task_completion' AND status = 'SUCCESS' ORDER BY trace_id LIMIT %(pairs)s) s,
        LATERAL (SELECT round(least(1, greatest(0, s.numeric_value + (random() - 0.5) * 0.4))::numeric, 3)::float8 AS v) h
"""
SESSIONS_SQL = """
    INSERT INTO evaluations_sessionscore (id, project_id, session_id, name, value, numeric_value, data_type,
        source, status, metadata, created_at, updated_at)
    SELECT gen_random_uuid(), %(project)s::uuid, 'sess-' || s, metric, v::text, v, 'NUMERIC', 'AUTOMATED',
        'SUCCESS', '{}', t, t
    FROM generate_series(0, %(traces)s / 10 - 1) s, unnest(%(session_metrics)s::text[]) metric,
        generate_series(1, 3) round,
        LATERAL (SELECT round(random()::numeric, 3)::float8 AS v,
                 %(t0)s::timestamptz + (s * 10 * %(step)s + round * 86400) * interval '1 second' AS t) x
"""


def _expected(scale: dict) -> tuple[int, int]:
    return scale["traces"] * len(METRICS) + scale["pairs"], scale["traces"] // 10 * len(SESSION_METRICS) * 3


def _seed(project, scale: dict) -> str:
    """Load the data unless it is already there; says what it did."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from evaluations.models import SessionScore, TraceScore

    counts = (
        TraceScore.objects.filter(project=project).count(),
        SessionScore.objects.filter(project=project).count(),
    )
    varied = TraceScore.objects.filter(project=project, status="FAILED").exists()
    if counts == _expected(scale) and varied:
        return "reused" + _rollups_checked(project, sum(counts))
    started = time.perf_counter()
    # Kept from an earlier load that failed after creating them.
    reviewers = [
        get_user_model().objects.get_or_create(username=f"bench-reviewer-{i}-{project.pk.hex[:6]}")[0].pk
        for i in range(REVIEWERS)
    ]
    params = {
        "project": str(project.pk), "traces": scale["traces"], "pairs": scale["pairs"], "t0": "2026-01-01T00:00:00Z",
        "step": DAYS * 86400 // scale["traces"], "metrics": list(METRICS), "session_metrics": list(SESSION_METRICS),
        "reviewers": reviewers, "n_reviewers": REVIEWERS,
    }  # fmt: skip
    with transaction.atomic(), connection.cursor() as cursor:
        for table in ("evaluations_sessionscore", "evaluations_tracescore", "traces_trace"):
            cursor.execute(f'DELETE FROM "{table}" WHERE project_id = %s', [project.pk])
        for sql in (TRACES_SQL, JUDGE_SQL, HUMAN_SQL, SESSIONS_SQL):
            cursor.execute(sql, params)
    loaded = time.perf_counter() - started
    return f"loaded in {loaded:.0f} s" + _rollups_checked(project, sum(_expected(scale)))


def _rollups_checked(project, scores: int) -> str:
    """Rebuild the project's score rollups unless they count every score: the SQL load bypasses the
    score services that keep them. Then vacuum, as the rollups' migration would leave a table."""
    from django.db import connection
    from django.db.models import Sum

    from evaluations.models import ScoreRollup
    from evaluations.services.rollups import score_rollup_rebuild

    said = ""
    if ScoreRollup.objects.filter(project=project).aggregate(n=Sum("score_count"))["n"] != scores:
        started = time.perf_counter()
        rows = score_rollup_rebuild(project=project)
        said = f", rollups rebuilt in {time.perf_counter() - started:.1f} s ({rows:,} rows)"
    with connection.cursor() as cursor:
        for table in (
            "traces_trace",
            "evaluations_tracescore",
            "evaluations_sessionscore",
            "evaluations_scorerollup",
        ):
            cursor.execute(f'VACUUM ANALYZE "{table}"')  # index-only scans need the visibility map
    return said


def _prepare(scale_json: str) -> None:
    """Seed, issue a key; prints {"rows", "headers"} as JSON."""
    import django

    django.setup()
    from pandaprobe.projects.models import ApiKey
    from pandaprobe.projects.services import api_key_create, project_get_or_create

    scale = json.loads(scale_json)
    project = project_get_or_create(name=PROJECT)
    seeded = _seed(project, scale)
    ApiKey.objects.filter(project=project, name="benchmark").delete()
    raw = api_key_create(project=project, name="benchmark").raw_key
    scores, session_scores = _expected(scale)
    label = (
        f"{NAME}: seed {scores:,} trace scores, {scale['pairs']:,} pairs, {session_scores:,} session scores"
    )
    print(
        json.dumps({"rows": [row(label, seeded)], "headers": {"X-API-Key": raw, "X-Project-Name": PROJECT}})
    )


if __name__ == "__main__":
    sys.path.insert(0, str(common.ROOT))  # the project's `pandaprobe`, not the SDK of the same name
    if len(sys.argv) == 3 and sys.argv[1] == "--prepare":
        _prepare(sys.argv[2])
    else:
        from run import table

        quick = "--quick" in sys.argv
        print(
            table(
                run(SimpleNamespace(database_url=os.environ.get("DATABASE_URL", ""), quick=quick, options={}))
            )
        )
