"""Trace-score reads at scale: 1,000,000 scores over 100,000 traces in PostgreSQL.

Measured through the real stack in a production-like subprocess (DEBUG off; Django test client, so
middleware, API-key authentication, DRF view, serializer and JSON all run): the list filtered by
name (200,000 matching rows) and by trace, page of 50 with its exact total; the latest-per-name
overview of a trace; and the streamed CSV export's peak memory for 100k vs 1M rows, each export in a
fresh process reading ru_maxrss.

Targets: list p50 < 25 ms each, latest-per-trace p50 < 10 ms, export memory flat in the row count.
The data lives in its own database (`bench_scores`), is loaded once with COPY and reused by later
runs. `python benchmarks/bench_scores.py` uses DATABASE_URL's server (skips unless PostgreSQL);
`benchmarks/run.py` calls `run(args)`. Options (`-o key=value`): samples=100.
"""

import json
import os
import random
import resource
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import row  # noqa: E402

NAME = "scores"
DATABASE = "bench_scores"
NAMES = ("accuracy", "relevance", "helpfulness", "safety", "task_completion")
RUNS_PER_TRACE = 2  # every name scored twice per trace, so "latest per name" has a choice to make
MAIN, SMALL = "bench-scores-1m", "bench-scores-100k"
PROJECTS = {MAIN: 100_000, SMALL: 10_000}  # project -> traces (10 scores each)
DEFAULTS = {"samples": "100"}
QUICK = {"samples": "15"}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _migrated_env(server: str, args) -> dict:
    """The server environment on the kept (seeded) database; rebuilt when it no longer migrates,
    e.g. after the migrations were regenerated."""
    redis_url = getattr(args, "redis_url", None) or "redis://127.0.0.1:6379/0"
    for fresh in (False, True):
        env = common.server_env(
            common.database_ensure(server, DATABASE, fresh=fresh),
            redis_url=redis_url,
            namespace=f"bench-{NAME}",
        )
        try:
            common.manage("migrate", "--noinput", "-v0", env=env)
            return env
        except RuntimeError:  # common.manage: migrate failed
            if fresh:
                raise
    raise AssertionError("unreachable")


def run(args) -> list[dict]:
    """The benchmark's rows; a single "skipped" row when no PostgreSQL server is given."""
    server = getattr(args, "database_url", None) or os.environ.get("DATABASE_URL", "")
    if urlparse(server).scheme not in ("postgres", "postgresql"):
        return [row(f"{NAME}: skipped (needs a postgres:// DATABASE_URL)", "skipped")]
    opts = {**DEFAULTS, **(QUICK if getattr(args, "quick", False) else {}), **getattr(args, "options", {})}
    rows = [row(f"{NAME}: machine already busy before the run", round(common.busy_cores(), 2), "cores")]
    env = _migrated_env(server, args)
    if common.migrations_pending(env):
        rows.append(row(f"{NAME}: WARNING models have changes without migrations", "yes", ok=False))
    prepared = common.child(env, __file__, "--prepare", opts["samples"])
    rows += prepared["rows"]
    exports = [SMALL] if getattr(args, "quick", False) else [SMALL, MAIN]
    rows += _export_rows(env, {name: prepared["keys"][name] for name in exports})
    return rows


# --- in the child: seeding ------------------------------------------------------------------------


def _copy_rows(conn, model, rows) -> None:
    """COPY `rows` (dicts keyed by attname) into the model's table; other columns get their default."""
    from django.db import models

    fields = model._meta.concrete_fields
    now = datetime.now(UTC)
    defaults = {
        f.attname: f.get_default()
        if f.has_default()
        else (now if isinstance(f, models.DateTimeField) else None)
        for f in fields
    }
    columns = ", ".join(f'"{f.column}"' for f in fields)
    with conn.cursor() as cur, cur.copy(f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN') as copy:
        for values in rows:
            full = {**defaults, **values}
            copy.write_row([_copy_value(full[f.attname]) for f in fields])


def _copy_value(value):
    return json.dumps(value) if isinstance(value, dict | list) else value


def _trace_rows(project_id, count: int) -> list[dict]:
    rows = []
    for i in range(count):
        started = T0 + timedelta(seconds=i * 60)
        rows.append({
            "trace_id": uuid.uuid4(), "project_id": project_id, "name": f"agent-{i % 50}",
            "status": "COMPLETED", "started_at": started, "ended_at": started + timedelta(seconds=3),
            "session_id": f"sess-{i // 10}", "user_id": f"user-{i % 1000}", "tags": [],
            "environment": "staging" if i % 4 == 0 else "prod", "latency_ms": 3000.0,
            "created_at": started, "updated_at": started,
        })  # fmt: skip
    return rows


def _run_ids(project_id) -> list:
    """20 runs for the scores to point at (`eval_run_id` is a foreign key), or bare ids at a schema
    from before runs (`-o migrate=evaluations:0002_initial`)."""
    from django.db import DatabaseError, transaction

    from evaluations.models import EvalRun

    try:
        with transaction.atomic():
            runs = EvalRun.objects.bulk_create(EvalRun(project_id=project_id) for _ in range(20))
    except DatabaseError:
        return [uuid.uuid4() for _ in range(20)]
    return [run.pk for run in runs]


def _score_rows(project_id, traces: list[dict], rng: random.Random):
    run_ids = _run_ids(project_id)
    for t, trace in enumerate(traces):
        for run_index in range(RUNS_PER_TRACE):
            created = trace["started_at"] + timedelta(days=run_index, seconds=5)
            for n, name in enumerate(NAMES):
                failed = rng.random() < 0.02
                number = None if failed else round(rng.random(), 3)
                yield {
                    "id": uuid.uuid4(), "project_id": project_id, "trace_id": trace["trace_id"], "name": name,
                    "value": None if failed else f"{number:.3f}", "numeric_value": number,
                    "data_type": "NUMERIC", "source": "AUTOMATED" if run_index == 0 else "ANNOTATION",
                    "status": "FAILED" if failed else "SUCCESS", "eval_run_id": run_ids[(t + run_index) % 20],
                    "reason": "judge says so", "metadata": {}, "environment": trace["environment"],
                    "created_at": created + timedelta(milliseconds=n), "updated_at": created,
                }  # fmt: skip


def _seed(project, traces: int) -> str:
    """Load the project's traces and scores unless they are already there; says what it did."""
    import psycopg

    from evaluations.models import ScoreEvent, TraceScore
    from pandaprobe.traces.models import Trace

    expected = traces * RUNS_PER_TRACE * len(NAMES)
    if (
        Trace.objects.filter(project=project).count() == traces
        and TraceScore.objects.filter(project=project).count() == expected
    ):
        return "reused"
    started = time.perf_counter()
    url = os.environ["DATABASE_URL"]
    with psycopg.connect(url) as conn:
        for model in (ScoreEvent, TraceScore, Trace):
            conn.execute(f'DELETE FROM "{model._meta.db_table}" WHERE project_id = %s', [project.pk])
        trace_rows = _trace_rows(project.pk, traces)
        _copy_rows(conn, Trace, trace_rows)
        _copy_rows(conn, TraceScore, _score_rows(project.pk, trace_rows, random.Random(42)))
    with psycopg.connect(url, autocommit=True) as conn:
        # Index-only scans (the COUNT behind `total`) need the visibility map a VACUUM sets.
        for model in (Trace, TraceScore):
            conn.execute(f'VACUUM ANALYZE "{model._meta.db_table}"')
    return f"loaded in {time.perf_counter() - started:.0f} s"


def _api_headers(project) -> dict:
    from pandaprobe.projects.models import ApiKey
    from pandaprobe.projects.services import api_key_create

    ApiKey.objects.filter(project=project, name="benchmark").delete()
    raw = api_key_create(project=project, name="benchmark").raw_key
    return {"HTTP_X_API_KEY": raw, "HTTP_X_PROJECT_NAME": project.name}


# --- in the child: reads --------------------------------------------------------------------------


def _timings(client, headers: dict, paths: list[str]) -> list[float]:
    for path in paths[:5]:  # warm caches and the connection
        client.get(path, **headers)
    times = []
    for path in paths:
        started = time.perf_counter()
        response = client.get(path, **headers)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.content[:300]!r}")
    return times


def _latency_rows(label: str, times: list[float], target_ms: float) -> list[dict]:
    p50 = statistics.median(times)
    p95 = common.percentile(times, 95)
    return [
        row(f"{NAME}: {label} p50", round(p50, 2), "ms", f"< {target_ms:g}", p50 < target_ms),
        row(f"{NAME}: {label} p95", round(p95, 2), "ms"),
    ]


def _read_rows(project, headers: dict, samples: int) -> list[dict]:
    from django.test import Client

    from pandaprobe.traces.models import Trace

    client = Client(SERVER_NAME="localhost")  # a host the production settings allow
    rng = random.Random(7)
    all_ids = sorted(Trace.objects.filter(project=project).values_list("trace_id", flat=True))
    trace_ids = rng.sample(all_ids, samples)
    by_name = [f"/evaluations/trace-scores?name={rng.choice(NAMES)}&limit=50" for _ in range(samples)]
    by_trace = [f"/evaluations/trace-scores?trace_id={t}&limit=50" for t in trace_ids]
    latest = [f"/evaluations/trace-scores/{t}" for t in trace_ids]
    total = client.get(by_name[0], **headers).json()["total"]
    return [
        *_latency_rows(f"list name= (total {total:,}), page 50", _timings(client, headers, by_name), 25),
        *_latency_rows("list trace_id=, page 50", _timings(client, headers, by_trace), 25),
        *_latency_rows("latest per name of a trace", _timings(client, headers, latest), 10),
    ]


def _prepare(samples: int) -> None:
    """Seed both projects, issue keys, time the reads; prints {"rows", "keys"} as JSON."""
    import django

    django.setup()
    from pandaprobe.projects.services import project_get_or_create

    rows, keys = [], {}
    for name, traces in PROJECTS.items():
        project = project_get_or_create(name=name)
        rows.append(row(f"{NAME}: seed {name} ({traces:,} traces)", _seed(project, traces)))
        keys[name] = _api_headers(project)
    rows += _read_rows(project_get_or_create(name=MAIN), keys[MAIN], samples)
    print(json.dumps({"rows": rows, "keys": keys}))


# --- export memory --------------------------------------------------------------------------------


def _export(headers_json: str) -> None:
    """In a fresh process: stream a project's whole CSV export; prints rows, time and peak memory."""
    import django

    django.setup()
    from django.test import Client

    headers = json.loads(headers_json)
    client = Client(SERVER_NAME="localhost")  # a host the production settings allow
    # One small export first, so imports and the connection are not counted as the export's memory.
    b"".join(client.get("/evaluations/trace-scores/export?format=csv&name=none", **headers).streaming_content)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    response = client.get("/evaluations/trace-scores/export?format=csv", **headers)
    size = lines = 0
    first_rows = None  # when the first chunk of rows (not the header) arrived
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
        if first_rows is None and lines > 1:
            first_rows = time.perf_counter() - started
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "rows": lines - 1,
        "bytes": size,
        "seconds": seconds,
        "first_rows": first_rows,
        "peak_kb": peak,
        "growth_kb": peak - before,
    }
    print(json.dumps(result))


def _export_rows(env: dict, headers_by_project: dict) -> list[dict]:
    results = {
        name: common.child(env, __file__, "--export", json.dumps(headers)) for name, headers in headers_by_project.items()
    }
    rows = []
    for result in results.values():
        label = f"{NAME}: export csv {result['rows']:,} rows"
        rows += [
            row(f"{label}, peak RSS growth", round(result["growth_kb"] / 1024, 1), "MB"),
            row(f"{label}, process peak RSS", round(result["peak_kb"] / 1024, 1), "MB"),
            row(f"{label}, throughput", round(result["rows"] / result["seconds"]), "rows/s"),
            row(f"{label}, time to the first rows", round(result["first_rows"] * 1000, 1), "ms"),
        ]
    if MAIN in results:
        small, large = results[SMALL]["peak_kb"] / 1024, results[MAIN]["peak_kb"] / 1024
        # Constant memory: ten times the rows may cost at most a few MB more at the peak.
        rows.append(row(f"{NAME}: export peak RSS, 1M minus 100k rows", round(large - small, 1), "MB",
                        "< 16", large - small < 16))  # fmt: skip
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(common.ROOT))  # the project's `pandaprobe`, not the SDK of the same name
    if len(sys.argv) == 3 and sys.argv[1] == "--prepare":
        _prepare(int(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--export":
        _export(sys.argv[2])
    else:
        from run import table

        print(
            table(
                run(SimpleNamespace(database_url=os.environ.get("DATABASE_URL", ""), quick=False, options={}))
            )
        )
