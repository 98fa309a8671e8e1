"""Operations analytics over 1,000,000 traces, through the real HTTP API.

One project's traces are bulk-loaded with SQL `generate_series` (not the ORM) into a database of
their own (`bench_ops_analytics`), spread evenly over 30 days: a session every 4 traces, 5,000 end
users, 5% errors, one LLM span per trace (3 models, token usage and cost). gunicorn (sync, 2
workers, DEBUG off) serves them; each request is timed from the client, one at a time, and the p50
and p95 are reported for `/traces/analytics` (volume, latency, tokens at day and hour granularity,
and models) over the 30 days, `/sessions/analytics` and the first page of `/traces/users`.
Target: `/traces/analytics` p50 under 300 ms.

The load bypasses the services that keep the traces' hourly rollup, so `manage.py
rebuild_trace_rollup` recomputes it after a load (and whenever its trace count disagrees with the
traces', e.g. a database loaded before the rollup existed).

The data is loaded once and kept; `-o reload=1` loads it again, `-o samples=N` times N requests of
each (default 30). `--quick`: 20,000 traces, 5 samples.
Run alone: `python benchmarks/bench_ops_analytics.py [--quick]`.
"""

import argparse
import os
import statistics
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import row  # noqa: E402

NAME = "ops_analytics"
TRACES, QUICK_TRACES = 1_000_000, 20_000
SAMPLES, QUICK_SAMPLES = 30, 5
TARGET_MS = 300
PROJECT = "bench-ops-analytics"
START = "2026-01-01T00:00:00Z"
DAYS = 30
WINDOW = {"started_after": START, "started_before": "2026-01-31T00:00:00Z"}

TRACES_SQL = """
INSERT INTO traces_trace (trace_id, project_id, name, status, input, output, metadata, started_at, ended_at,
    session_id, user_id, tags, environment, release, latency_ms, span_count, total_tokens, prompt_tokens,
    completion_tokens, total_cost, created_at, updated_at)
SELECT md5('trace-' || i)::uuid, %(project)s, 'agent-run',
    CASE WHEN i %% 20 = 0 THEN 'ERROR' ELSE 'COMPLETED' END, NULL, NULL, '{}'::jsonb,
    started_at, started_at + latency * interval '1 millisecond', 'session-' || (i / 4), 'user-' || (i %% 5000),
    '["prod"]'::jsonb, CASE WHEN i %% 10 = 0 THEN 'dev' ELSE 'prod' END, NULL, latency, 1, 150, 100, 50, 0.002,
    now(), now()
FROM (
    SELECT i, %(start)s::timestamptz + i * %(step)s * interval '1 second' AS started_at,
        10 + (i * 7919) %% 4999 + (i %% 7) / 10.0 AS latency
    FROM generate_series(0::bigint, %(count)s - 1) AS i
) AS rows
"""
SPANS_SQL = """
INSERT INTO traces_span (trace_id, span_id, parent_span_id, name, kind, status, input, output, model,
    token_usage, metadata, started_at, ended_at, error, completion_start_time, model_parameters, cost,
    total_tokens, prompt_tokens, completion_tokens, total_cost)
SELECT trace_id, md5('span-' || trace_id::text)::uuid, NULL, 'llm-call', 'LLM', 'OK', NULL, NULL,
    (ARRAY['gpt-4o', 'gpt-4o-mini', 'claude-3-5-sonnet'])[1 + abs(hashtext(trace_id::text)) %% 3],
    '{"prompt_tokens": 100, "completion_tokens": 50}'::jsonb, '{}'::jsonb, started_at, ended_at, NULL, NULL,
    NULL, '{"total": 0.002}'::jsonb, 150, 100, 50, 0.002
FROM traces_trace WHERE project_id = %(project)s
"""


def _rolled_up(db, project) -> int:
    """How many traces the project's hourly rollup counts."""
    sql = (
        "SELECT coalesce(sum(trace_count), 0) FROM traces_tracehourstats WHERE project_id = %s AND model = ''"
    )
    return db.execute(sql, [project]).fetchone()[0]


def _rollup_rebuild(env: dict, url: str, count: int) -> float | None:
    """Rebuild the project's rollup unless it counts the `count` traces; the seconds it took, or None."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        project = db.execute("SELECT id FROM projects_project WHERE name = %s", [PROJECT]).fetchone()[0]
        if _rolled_up(db, project) == count:
            db.execute("VACUUM ANALYZE traces_tracehourstats")  # e.g. just filled in by its migration
            return None
        began = time.monotonic()
        common.manage("rebuild_trace_rollup", "--project", PROJECT, env=env, timeout=900)
        db.execute("VACUUM ANALYZE traces_tracehourstats")
        assert _rolled_up(db, project) == count
        return time.monotonic() - began


def _load(url: str, count: int, reload: bool) -> float | None:
    """Bulk-load `count` traces (and a span each) unless they are there; the seconds it took, or None."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        project = db.execute("SELECT id FROM projects_project WHERE name = %s", [PROJECT]).fetchone()[0]
        loaded = db.execute("SELECT count(*) FROM traces_trace WHERE project_id = %s", [project]).fetchone()[
            0
        ]
        if loaded == count and not reload:
            # Statistics a newer migration added are filled in; the visibility map is set, so the
            # percentiles' index-only scans read no table page.
            db.execute("VACUUM ANALYZE traces_trace")
            return None
        began = time.monotonic()
        # Spans first: the foreign key cascades in Django, not in the database.
        db.execute(
            "DELETE FROM traces_span USING traces_trace WHERE traces_span.trace_id = traces_trace.trace_id"
            " AND traces_trace.project_id = %s",
            [project],
        )
        db.execute("DELETE FROM traces_trace WHERE project_id = %s", [project])
        step = DAYS * 86400 / count
        db.execute(TRACES_SQL, {"project": project, "start": START, "step": step, "count": count})
        db.execute(SPANS_SQL, {"project": project})
        db.execute("VACUUM ANALYZE traces_trace")
        db.execute("VACUUM ANALYZE traces_span")
        return time.monotonic() - began


def _get(base: str, path: str, params: dict, headers: dict) -> float:
    request = urllib.request.Request(f"{base}{path}?{urllib.parse.urlencode(params)}", headers=headers)
    began = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
        assert response.status == 200, response.status
    return (time.perf_counter() - began) * 1000


CASES = [
    ("/traces/analytics volume, day", "/traces/analytics", {**WINDOW, "granularity": "day"}, True),
    ("/traces/analytics volume, hour", "/traces/analytics", {**WINDOW, "granularity": "hour"}, True),
    ("/traces/analytics latency, day", "/traces/analytics", {**WINDOW, "metric": "latency"}, True),
    (
        "/traces/analytics latency, hour",
        "/traces/analytics",
        {**WINDOW, "metric": "latency", "granularity": "hour"},
        True,
    ),
    ("/traces/analytics tokens, day", "/traces/analytics", {**WINDOW, "metric": "tokens"}, True),
    (
        "/traces/analytics tokens, hour",
        "/traces/analytics",
        {**WINDOW, "metric": "tokens", "granularity": "hour"},
        True,
    ),
    ("/traces/analytics models", "/traces/analytics", {**WINDOW, "metric": "models"}, True),
    ("/sessions/analytics, day", "/sessions/analytics", WINDOW, False),
    ("/sessions/analytics, hour", "/sessions/analytics", {**WINDOW, "granularity": "hour"}, False),
    ("/traces/users, first page", "/traces/users", {}, False),
]


def _measure(base: str, headers: dict, samples: int, count: int) -> list[dict]:
    rows = []
    for label, path, params, targeted in CASES:
        for _ in range(2):  # warm-up: connections, caches
            _get(base, path, params, headers)
        times = sorted(_get(base, path, params, headers) for _ in range(samples))
        p50, p95 = statistics.median(times), common.percentile(times, 95)
        ok = p50 < TARGET_MS if targeted else None
        name = f"{NAME}: {label} ({count:,} traces)"
        rows.append(row(f"{name} p50", round(p50, 1), "ms", f"< {TARGET_MS}" if targeted else None, ok))
        rows.append(row(f"{name} p95", round(p95, 1), "ms"))
    return rows


def run(args) -> list[dict]:
    server = getattr(args, "database_url", None) or os.environ.get("DATABASE_URL", "")
    if urllib.parse.urlparse(server).scheme not in ("postgres", "postgresql"):
        return [row(f"{NAME}: skipped (needs a postgres:// database URL)", "skipped")]
    quick = getattr(args, "quick", False)
    options = getattr(args, "options", {}) or {}
    count = QUICK_TRACES if quick else TRACES
    database = f"bench_{NAME}_quick" if quick else f"bench_{NAME}"
    env = common.env_at_schema(server, args, database=database, namespace=f"bench-{NAME}")
    key = common.api_key_issue(env, PROJECT)
    seconds = _load(env["DATABASE_URL"], count, reload=options.get("reload") == "1")
    rows = (
        []
        if seconds is None
        else [row(f"{NAME}: bulk load of {count:,} traces and spans", round(seconds, 1), "s")]
    )
    seconds = _rollup_rebuild(env, env["DATABASE_URL"], count)
    if seconds is not None:
        rows.append(row(f"{NAME}: hourly rollup rebuilt from {count:,} traces", round(seconds, 1), "s"))
    port = common.free_port()
    log = common.RESULTS / NAME / "gunicorn.log"
    with common.process(common.gunicorn_args("sync", 2, 1, port), env, log=log) as server_process:
        base = f"http://127.0.0.1:{port}"
        common.wait_for_http(f"{base}/health", timeout=120, process=server_process)
        headers = {"X-API-Key": key, "X-Project-Name": PROJECT}
        samples = int(options.get("samples", QUICK_SAMPLES if quick else SAMPLES))
        rows += _measure(base, headers, samples, count)
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    args.options = dict(option.split("=", 1) for option in args.option)
    for result in run(args):
        verdict = {True: "ok", False: "MISSED", None: ""}[result["ok"]]
        print(
            f"{result['name']:<90} {result['value']!s:>10} {result['unit']:<4} {result['target'] or '':<8} {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
