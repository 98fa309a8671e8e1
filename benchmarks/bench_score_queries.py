"""Which index each score query uses, at 1,000,000 trace scores (EXPLAIN ANALYZE on PostgreSQL).

Every index on the score tables costs every insert (`bench_score_insert.py`), so each one must be
used by a query the code runs, and each query must find its rows through an index. This runs the
real selectors and deletions (the SQL they send is captured, then explained; writes are rolled
back) against the 100k traces, 1M scores and 1M events of `bench_score_insert`'s database, and
prints for each query its execution time and the indexes it read. A row is MISSED when a query
reads a whole score, event or trace table (`Seq Scan`).

Traces get tags once (`prod` on most, `beta` on 5%, `vip` on 0.1%) for the `tags` filter.
Options (`-o key=value`): database=bench_score_insert.
"""

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_score_insert  # noqa: E402
import common  # noqa: E402
from common import row  # noqa: E402

NAME = "score_queries"
BIG_TABLES = {"evaluations_tracescore", "evaluations_scoreevent", "traces_trace", "traces_span"}
SHOWN = BIG_TABLES | {"evaluations_sessionscore"}  # the indexes listed are those of these tables
BROAD = "(broad) "
TAGS_SQL = """
    UPDATE traces_trace SET tags = CASE
        WHEN abs(hashtext(trace_id::text)) %% 1000 = 0 THEN '["prod", "vip"]'::jsonb
        WHEN abs(hashtext(trace_id::text)) %% 20 = 0 THEN '["prod", "beta"]'::jsonb
        ELSE '["prod"]'::jsonb END
    WHERE project_id = %s
"""


def run(args) -> list[dict]:
    server = getattr(args, "database_url", None) or os.environ.get("DATABASE_URL", "")
    if urlparse(server).scheme not in ("postgres", "postgresql"):
        return [row(f"{NAME}: skipped (needs a postgres:// DATABASE_URL)", "skipped")]
    opts = {"database": bench_score_insert.DEFAULTS["database"], **getattr(args, "options", {})}
    env = common.env_at_schema(
        server, args, database=opts["database"], namespace=f"bench-{NAME}", migrate=opts.get("migrate")
    )
    result = common.child(env, __file__, "--queries", "{}")
    return [row(**r) for r in result["rows"]]


# --- in the child ---------------------------------------------------------------------------------


def _explain(sql: str) -> dict:
    """The plan of one captured statement, run and rolled back."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0]
        transaction.set_rollback(True)
    return plan[0] if isinstance(plan, list) else json.loads(plan)[0]


def _walk(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _walk(child)


def _captured(action) -> list[str]:
    """The SQL `action()` sends, in a transaction that is rolled back."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        action()
        transaction.set_rollback(True)
    skip = ("SAVEPOINT", "RELEASE", "ROLLBACK", "SET ")
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(skip)]


def _index_tables() -> dict[str, str]:
    """Index name -> table (a bitmap index scan names only its index)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, tablename FROM pg_indexes WHERE schemaname = 'public'")
        return dict(cursor.fetchall())


def _measure_one(label: str, action, index_tables: dict[str, str]) -> dict:
    """One row: time and indexes of what `action` sends. A query marked BROAD matches much of the
    project (a plain count of it reads most rows whatever the indexes): shown, not judged."""
    indexes, full_scans, total_ms = set(), set(), 0.0
    for sql in _captured(action):
        plan = _explain(sql)
        total_ms += plan["Execution Time"]
        for node in _walk(plan["Plan"]):
            if index_tables.get(node.get("Index Name")) in SHOWN:
                indexes.add(node["Index Name"])
            if node["Node Type"] == "Seq Scan" and node.get("Relation Name") in BIG_TABLES:
                full_scans.add(node["Relation Name"])
    used = ", ".join(sorted(indexes)) or "no index"
    if full_scans:
        used += f"; SEQ SCAN of {', '.join(sorted(full_scans))}"
    if BROAD in label:
        return row(f"{NAME}: {label} [{used}]", round(total_ms, 2), "ms")
    return row(f"{NAME}: {label} [{used}]", round(total_ms, 2), "ms", "no seq scan", not full_scans)


def _queries(project, sample: dict) -> dict:
    """label -> a callable running what the code runs for it."""
    from django.http import QueryDict

    from evaluations.selectors import annotations, queues, scores, sessions

    def listed(query: str):
        def run_list():
            qs = scores.trace_scores_list(project=project, params=QueryDict(query))
            list(qs[:50])
            scores.exact_count(qs)

        return run_list

    def explorer(query: str):
        def run_explorer():
            qs = annotations.explorer_traces(project=project, params=QueryDict(query))
            list(qs[:50])
            qs.count()

        return run_explorer

    trace, run_id = sample["trace"], sample["run_id"]
    filters = {  # query -> label; half of the seeded scores are AUTOMATED, 2% FAILED, all NUMERIC
        "": f"{BROAD}no filter", "name=accuracy": None, f"trace_id={trace}": "trace_id=",
        "source=ANNOTATION": None, "source=PROGRAMMATIC": None, "source=AUTOMATED": f"{BROAD}source=AUTOMATED",
        "status=FAILED": None, "status=SUCCESS": f"{BROAD}status=SUCCESS", "data_type=BOOLEAN": None,
        "data_type=NUMERIC": f"{BROAD}data_type=NUMERIC", f"eval_run_id={run_id}": "eval_run_id=",
        "environment=staging": f"{BROAD}environment=staging",
        "date_from=2026-03-01T00:00:00Z": "date_from= (last 12 days)",
    }  # fmt: skip
    return {
        **{f"list {label or query}, page 50 + count": listed(query) for query, label in filters.items()},
        "latest per name of a trace": lambda: scores.latest_scores_for_trace(project=project, trace_id=trace),
        "latest per name, source, author of 50 traces (badges)": lambda: scores.latest_scores_per_reviewer(
            project=project, trace_ids=sample["traces"]
        ),
        f"{BROAD}explorer has_score=accuracy, page 50 + count": explorer("has_score=accuracy"),
        f"{BROAD}explorer missing_score=accuracy, page 50 + count": explorer("missing_score=accuracy"),
        "explorer tags=vip (0.1%), page 50 + count": explorer("tags=vip"),
        "explorer tags=beta (5%), page 50 + count": explorer("tags=beta"),
        "queue: a reviewer's scores of a trace": lambda: queues.reviewer_scores_for_trace(
            project=project, trace_id=trace, reviewer=sample["user"], names=["accuracy", "safety"]
        ),
        "history of a score": lambda: scores.score_history(project=project, score_id=sample["score"]),
        "trace page history panel": lambda: scores.score_events_by_score(
            project=project, target="TRACE", trace_id=trace
        ),
        "session page history panel": lambda: sessions.session_score_events(
            project=project, session_id=sample["session"]
        ),
        "delete a trace (scores cascade)": lambda: sample["trace_row"].delete(),
        "delete a user (author, actor set null)": lambda: sample["user"].delete(),
        "delete a score config (config set null)": lambda: sample["config"].delete(),
        "delete an API key (actor set null)": lambda: sample["api_key"].delete(),
    }


def _sample(project) -> dict:
    from django.contrib.auth import get_user_model

    from evaluations.models import ScoreConfig, TraceScore
    from pandaprobe.projects.services import api_key_create
    from pandaprobe.traces.models import Trace

    traces = list(Trace.objects.filter(project=project).order_by("-started_at")[:50])
    score = TraceScore.objects.filter(trace=traces[0]).first()
    user, _ = get_user_model().objects.get_or_create(username="bench-score-queries")
    config, _ = ScoreConfig.objects.get_or_create(project=project, name="bench-score-queries")
    api_key = api_key_create(project=project, name="bench-score-queries").api_key
    return {
        "trace": traces[0].pk, "trace_row": traces[0], "traces": [t.pk for t in traces],
        "session": traces[0].session_id, "run_id": score.eval_run_id, "score": score.pk,
        "user": user, "config": config, "api_key": api_key,
    }  # fmt: skip


def _queries_main() -> None:
    import django

    django.setup()
    from django.db import connection

    from pandaprobe.projects.services import project_get_or_create

    project = project_get_or_create(name=bench_score_insert.PROJECT)
    seeded = bench_score_insert._seed(project)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM traces_trace WHERE project_id = %s AND tags ? 'vip' LIMIT 1", [project.pk]
        )
        if cursor.fetchone() is None:
            cursor.execute(TAGS_SQL, [project.pk])
            cursor.execute("VACUUM ANALYZE traces_trace")
    rows = [row(f"{NAME}: seed 1M scores and events", seeded)]
    index_tables = _index_tables()
    for label, action in _queries(project, _sample(project)).items():
        rows.append(_measure_one(label, action, index_tables))
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    sys.path.insert(0, str(common.ROOT))  # the project's `pandaprobe`, not the SDK of the same name
    if len(sys.argv) == 3 and sys.argv[1] == "--queries":
        _queries_main()
    else:
        from run import table

        database_url = os.environ.get("DATABASE_URL", "")
        print(table(run(SimpleNamespace(database_url=database_url, quick=False, options={}))))
