"""Score-insert throughput into a PostgreSQL table that already holds 1,000,000 trace scores.

Every index on `evaluations_tracescore` and `evaluations_scoreevent` is paid by every insert, and
the judge inserts one score (with its history event) per trace and metric. Two figures:

- the judge's path: `trace_score_create` as the system actor (AUTOMATED, with an eval run id), its
  "create" event, one transaction per score, as a worker does it (commit included);
- bulk: `bulk_create` of scores and their events, 500 per transaction, so the figure is mostly the
  rows and their index entries (no per-score commit).

The 100,000 traces, 1M scores and 1M "create" events are loaded once with COPY into their own
database (`-o database=bench_score_insert`) and reused; what a run inserts is deleted afterwards.
To compare index sets, run at an older schema, e.g. before the index review of issue 8:

    make bench BENCH_ARGS="--only score_insert -o migrate=evaluations:0002_initial"
    make bench BENCH_ARGS="--only score_insert"          # the current migrations

Options (`-o key=value`): scores=2000 (per round), bulk=20000, rounds=3, database, migrate.
"""

import itertools
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_scores  # noqa: E402
import common  # noqa: E402
from common import row  # noqa: E402

NAME = "score_insert"
PROJECT = "bench-score-insert"
TRACES = 100_000  # 10 scores each: 1M scores
DEFAULTS = {"scores": "2000", "bulk": "20000", "rounds": "3", "database": "bench_score_insert"}
QUICK = {"scores": "300", "bulk": "3000", "rounds": "1"}
BULK_BATCH = 500
RUN_METADATA = {"benchmark": NAME}
# The seeded scores end about 70 days after `bench_scores.T0`: anything newer was inserted by a run.
SEED_END = bench_scores.T0 + timedelta(days=120)


def run(args) -> list[dict]:
    """The benchmark's rows; a single "skipped" row when no PostgreSQL server is given."""
    server = getattr(args, "database_url", None) or os.environ.get("DATABASE_URL", "")
    if urlparse(server).scheme not in ("postgres", "postgresql"):
        return [row(f"{NAME}: skipped (needs a postgres:// DATABASE_URL)", "skipped")]
    opts = {**DEFAULTS, **(QUICK if getattr(args, "quick", False) else {}), **getattr(args, "options", {})}
    rows = [row(f"{NAME}: machine already busy before the run", round(common.busy_cores(), 2), "cores")]
    env = common.env_at_schema(
        server, args, database=opts["database"], namespace=f"bench-{NAME}", migrate=opts.get("migrate")
    )
    schema = opts.get("migrate") or "latest migrations"
    result = common.child(env, __file__, "--measure", json.dumps(opts))
    rows += [row(f"{NAME}: {label} ({schema})", value, unit) for label, value, unit in result["rows"]]
    return rows


# --- in the child: seeding ------------------------------------------------------------------------


# A "create" event by the system for each seeded score, as the judge would have left.
EVENTS_SQL = """
    INSERT INTO evaluations_scoreevent (
        project_id, target, score_id, trace_id, score_name, action, actor_label,
        new_value, new_reason, new_source, new_status, new_metadata, created_at
    )
    SELECT project_id, 'TRACE', id, trace_id, name, 'create', 'system',
        value, reason, source, status, metadata, created_at
    FROM evaluations_tracescore WHERE project_id = %s
"""


def _seed(project) -> str:
    """Traces, scores and events of the project, unless they are already there."""
    import psycopg

    from evaluations.models import ScoreEvent, TraceScore
    from pandaprobe.traces.models import Trace

    expected = TRACES * bench_scores.RUNS_PER_TRACE * len(bench_scores.NAMES)
    scores = TraceScore.objects.filter(project=project)
    if scores.count() == expected and ScoreEvent.objects.filter(project=project).count() == expected:
        return "reused"
    started = time.perf_counter()
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        for model in (ScoreEvent, TraceScore, Trace):
            conn.execute(f'DELETE FROM "{model._meta.db_table}" WHERE project_id = %s', [project.pk])
        traces = bench_scores._trace_rows(project.pk, TRACES)
        bench_scores._copy_rows(conn, Trace, traces)
        bench_scores._copy_rows(
            conn, TraceScore, bench_scores._score_rows(project.pk, traces, random.Random(42))
        )
        conn.execute(EVENTS_SQL, [project.pk])
    return f"loaded in {time.perf_counter() - started:.0f} s"


def _vacuum() -> None:
    """Start from the same state every run: dead rows of earlier runs gone, statistics fresh."""
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        for table in ("traces_trace", "evaluations_tracescore", "evaluations_scoreevent"):
            conn.execute(f'VACUUM ANALYZE "{table}"')


def _index_counts() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, count(*) FROM pg_indexes WHERE tablename IN "
            "('evaluations_tracescore', 'evaluations_scoreevent') GROUP BY tablename"
        )
        return dict(cursor.fetchall())


# --- in the child: inserts ------------------------------------------------------------------------


def _run_id(project):
    """A run for the round's scores: a real one where runs exist (their scores point at it), a bare
    id at a schema from before runs (`-o migrate=evaluations:0002_initial`)."""
    from django.db import DatabaseError, transaction

    from evaluations.models import EvalRun

    try:
        with transaction.atomic():
            return EvalRun.objects.create(project=project).pk
    except DatabaseError:
        return uuid.uuid4()


def _pairs(trace_ids: list, count: int, rng: random.Random) -> list[tuple]:
    # A run scores a (trace, metric) pair once: the database refuses a second.
    return rng.sample([(t, n) for t in trace_ids for n in bench_scores.NAMES], count)


def _judge_inserts(project, trace_ids: list, count: int, rng: random.Random) -> float:
    """Scores per second through `trace_score_create`, one transaction (and commit) each."""
    from evaluations.services.scores import trace_score_create
    from pandaprobe.projects.access import ProjectAccess

    access, run_id = ProjectAccess.system(project), _run_id(project)
    pairs = _pairs(trace_ids, count, rng)
    started = time.perf_counter()
    for trace_id, name in pairs:
        trace_score_create(
            access=access, trace_id=trace_id, name=name,
            value=f"{rng.random():.3f}", source="AUTOMATED", eval_run_id=run_id,
            reason="the answer follows from the context", metadata=RUN_METADATA,
        )  # fmt: skip
    return count / (time.perf_counter() - started)


def _bulk_inserts(project, trace_ids: list, count: int, rng: random.Random) -> float:
    """Scores per second with `bulk_create` of scores and their events, `BULK_BATCH` per transaction."""
    from django.db import transaction

    from evaluations.models import ScoreEvent, TraceScore

    run_id, pairs = _run_id(project), iter(_pairs(trace_ids, count, rng))
    started = time.perf_counter()
    for _ in range(0, count, BULK_BATCH):
        now = datetime.now(UTC)
        scores = [
            TraceScore(
                project=project, trace_id=trace_id, name=name,
                value="0.5", numeric_value=0.5, source="AUTOMATED", eval_run_id=run_id,
                reason="bulk", metadata=RUN_METADATA, created_at=now, updated_at=now,
            )
            for trace_id, name in itertools.islice(pairs, BULK_BATCH)
        ]  # fmt: skip
        events = [
            ScoreEvent(
                project=project, score_id=s.id, trace_id=s.trace_id, score_name=s.name, action="create",
                actor_label="system", new_value=s.value, new_source=s.source, new_status=s.status,
                created_at=now,
            )
            for s in scores
        ]  # fmt: skip
        with transaction.atomic():
            TraceScore.objects.bulk_create(scores)
            ScoreEvent.objects.bulk_create(events)
    return count / (time.perf_counter() - started)


def _clean_up(project) -> None:
    from evaluations.models import ScoreEvent, TraceScore

    inserted = TraceScore.objects.filter(project=project, created_at__gt=SEED_END)
    ScoreEvent.objects.filter(project=project, score_id__in=inserted.values("id")).delete()
    inserted.delete()


def _measure(opts: dict) -> None:
    """Seed, insert, clean up; prints {"rows": [[label, value, unit], ...]} as JSON."""
    import django

    django.setup()
    from pandaprobe.projects.services import project_get_or_create
    from pandaprobe.traces.models import Trace

    project = project_get_or_create(name=PROJECT)
    seeded = _seed(project)
    _clean_up(project)  # what an interrupted run left
    _vacuum()
    rng = random.Random(11)
    trace_ids = list(Trace.objects.filter(project=project).values_list("trace_id", flat=True))
    rounds, count, bulk = int(opts["rounds"]), int(opts["scores"]), int(opts["bulk"])
    judge = [_judge_inserts(project, trace_ids, count, rng) for _ in range(rounds)]
    bulk_rates = [_bulk_inserts(project, trace_ids, bulk, rng) for _ in range(rounds)]
    _clean_up(project)
    indexes = _index_counts()
    rows = [
        ("seed 1M scores and events", seeded, ""),
        ("indexes on tracescore / scoreevent",
         f"{indexes.get('evaluations_tracescore')} / {indexes.get('evaluations_scoreevent')}", ""),
        (f"trace_score_create, 1 per transaction, median of {rounds}x{count}",
         round(statistics.median(judge)), "scores/s"),
        (f"bulk_create + events, {BULK_BATCH} per transaction, median of {rounds}x{bulk}",
         round(statistics.median(bulk_rates)), "scores/s"),
    ]  # fmt: skip
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    sys.path.insert(0, str(common.ROOT))  # the project's `pandaprobe`, not the SDK of the same name
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        _measure(json.loads(sys.argv[2]))
    else:
        from run import table

        database_url = os.environ.get("DATABASE_URL", "")
        print(table(run(SimpleNamespace(database_url=database_url, quick=False, options={}))))
