"""Every index of the score tables serves a query the code runs, and the `tags` filter can use its
GIN index (PostgreSQL plans; skipped on SQLite).

Each index is checked alone: inside a rolled-back savepoint the table's other indexes are dropped
and sequential scans are priced out, so the plan names the index exactly when the query can use
it (a partial index's condition, an operator class). Which index PostgreSQL prefers at 1M scores
is measured by `benchmarks/bench_score_queries.py`.
"""

import pytest
from django.db import connection, transaction
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from analytics.selectors import agreement
from analytics.selectors import scores as analytics
from evaluations.models import ScoreConfig, ScoreEvent
from evaluations.selectors import annotations, scores, sessions
from pandaprobe.projects.services import api_key_create
from pandaprobe.traces.models import Trace

from .factories import SessionScoreFactory, TraceFactory, TraceScoreFactory, UserFactory, eval_run

pytestmark = pytest.mark.django_db
SCORE_TABLES = ("evaluations_tracescore", "evaluations_sessionscore", "evaluations_scoreevent")


@pytest.fixture(autouse=True)
def _postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("index use is a PostgreSQL plan")


@pytest.fixture
def data(project):
    trace = TraceFactory(project=project, session_id="chat-1", tags=["prod", "vip"])
    user, config, run = (
        UserFactory(),
        ScoreConfig.objects.create(project=project, name="ok"),
        eval_run(project),
    )
    score = TraceScoreFactory(trace=trace, author=user, config=config, eval_run_id=run)
    SessionScoreFactory(project=project, session_id="chat-1", name="ok", value="1")
    ScoreEvent.objects.create(
        project=project, score_id=score.pk, trace_id=trace.pk, score_name="accuracy", action="create",
        actor_label="x", actor_user=user, actor_api_key=api_key_create(project=project).api_key,
    )  # fmt: skip
    return {"project": project, "trace": trace, "user": user, "config": config, "run": run, "score": score}


def trace_list(query: str):
    return lambda d: list(scores.trace_scores_list(project=d["project"], params=QueryDict(query))[:50])


def session_list(query: str):
    return lambda d: list(sessions.session_scores_list(project=d["project"], params=QueryDict(query))[:50])


def summary(kind):
    return lambda d: analytics.score_summary(kind=kind, project=d["project"], params=QueryDict(""))


INDEX_QUERIES = {
    # index: (table, what the code runs)
    "tscore_project_created": ("evaluations_tracescore", trace_list("")),
    "tscore_project_name": ("evaluations_tracescore", trace_list("name=accuracy")),
    "tscore_project_source": ("evaluations_tracescore", trace_list("source=PROGRAMMATIC")),
    "tscore_project_status": ("evaluations_tracescore", trace_list("status=FAILED")),
    "tscore_project_dtype": ("evaluations_tracescore", trace_list("data_type=CATEGORICAL")),
    "tscore_project_value": ("evaluations_tracescore", summary(analytics.TRACE_SCORES)),
    "tscore_run": ("evaluations_tracescore", lambda d: trace_list(f"eval_run_id={d['run']}")(d)),
    "tscore_agreement": (
        "evaluations_tracescore",
        lambda d: agreement.trace_score_agreement(
            project=d["project"], params=QueryDict("metric_name=accuracy")
        ),
    ),
    "tscore_trace_name": (
        "evaluations_tracescore",
        lambda d: scores.latest_scores_for_trace(project=d["project"], trace_id=d["trace"].pk),
    ),
    "tscore_author": ("evaluations_tracescore", lambda d: d["user"].delete()),
    "tscore_config": ("evaluations_tracescore", lambda d: d["config"].delete()),
    "sscore_project_created": ("evaluations_sessionscore", session_list("")),
    "sscore_project_name": ("evaluations_sessionscore", session_list("name=accuracy")),
    "sscore_project_value": ("evaluations_sessionscore", summary(analytics.SESSION_SCORES)),
    "sscore_run": ("evaluations_sessionscore", lambda d: session_list(f"eval_run_id={d['run']}")(d)),
    "sscore_session_name": (
        "evaluations_sessionscore",
        lambda d: sessions.latest_session_scores(project=d["project"], session_id="chat-1"),
    ),
    "sscore_author": ("evaluations_sessionscore", lambda d: d["user"].delete()),
    "sscore_config": ("evaluations_sessionscore", lambda d: d["config"].delete()),
    "score_event_score": (
        "evaluations_scoreevent",
        lambda d: scores.score_history(project=d["project"], score_id=d["score"].pk),
    ),
    "score_event_trace": (
        "evaluations_scoreevent",
        lambda d: scores.score_events_by_score(
            project=d["project"], target="TRACE", include_deleted=True, trace_id=d["trace"].pk
        ),
    ),
    "score_event_session": (
        "evaluations_scoreevent",
        lambda d: scores.score_events_by_score(
            project=d["project"], target="SESSION", include_deleted=True, session_id="chat-1"
        ),
    ),
    "score_event_user": ("evaluations_scoreevent", lambda d: d["user"].delete()),
    "score_event_api_key": (
        "evaluations_scoreevent",
        lambda d: ScoreEvent.objects.get().actor_api_key.delete(),
    ),
    "trace_tags": (
        "traces_trace",
        lambda d: list(annotations.explorer_traces(project=d["project"], params=QueryDict("tags=vip"))),
    ),
}


def _secondary_indexes(table: str) -> set[str]:
    """The table's indexes that no primary key or constraint owns (a partial unique constraint, such as
    one judge score per run, trace and metric, is a unique index without a pg_constraint row)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT i.relname FROM pg_index x
               JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
               WHERE t.relname = %s AND NOT x.indisprimary AND NOT x.indisunique
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)""",
            [table],
        )
        return {name for (name,) in cursor.fetchall()}


def _plans(sql_statements: list[str]) -> str:
    text = []
    with connection.cursor() as cursor:
        for sql in sql_statements:
            if sql.lstrip().upper().startswith(("SELECT", "WITH", "UPDATE", "DELETE")):
                cursor.execute(f"EXPLAIN {sql}")
                text += [line for (line,) in cursor.fetchall()]
    return "\n".join(text)


def plan_with_only(index: str, table: str, action, data) -> str:
    """The plans of what `action` sends when `index` is the only secondary index of `table`."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            for other in _secondary_indexes(table) - {index}:
                cursor.execute(f'DROP INDEX "{other}"')
            cursor.execute("SET LOCAL enable_seqscan = off")
        with CaptureQueriesContext(connection) as captured:
            action(data)
        plans = _plans([query["sql"] for query in captured.captured_queries])
        transaction.set_rollback(True)
    return plans


@pytest.mark.parametrize("index", sorted(INDEX_QUERIES))
def test_each_index_serves_its_query(index, data):
    table, action = INDEX_QUERIES[index]
    plans = plan_with_only(index, table, action, data)
    assert index in plans, plans


@pytest.mark.parametrize("table", SCORE_TABLES)
def test_no_score_index_without_a_query(table):
    """An index is paid by every insert: each one here is in `INDEX_QUERIES` with what uses it."""
    assert _secondary_indexes(table) == {name for name, (t, _) in INDEX_QUERIES.items() if t == table}


def test_the_tags_filter_uses_the_gin_operator_class(data):
    """jsonb `?|` (tags__any_of) is served by the default jsonb GIN operator class, project or not."""
    plans = plan_with_only("trace_tags", "traces_trace", lambda d: list(Trace.objects.filter(
        tags__any_of=["vip", "beta"])), data)  # fmt: skip
    assert "Bitmap Index Scan on trace_tags" in plans, plans
    assert list(Trace.objects.filter(tags__any_of=["vip", "beta"])) == [data["trace"]]


def _explorer_page(query: QueryDict):
    def run(d):
        with connection.cursor() as cursor:  # a plain Sort only when nothing else gives the order
            cursor.execute("SET LOCAL enable_sort = off")
        list(annotations.explorer_traces(project=d["project"], params=query)[:50])

    return run


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_the_explorer_reads_traces_in_index_order(data, order):
    """`started_at` is NOT NULL: sorting it NULLS LAST would stop `trace_project_started` from
    giving the order, and every page would sort all of the project's traces."""
    query = QueryDict(f"sort_by=started_at&sort_order={order}")
    plans = plan_with_only("trace_project_started", "traces_trace", _explorer_page(query), data)
    assert "Index Scan" in plans and "trace_project_started" in plans, plans
    assert "Presorted Key: started_at" in plans, plans


def test_the_session_leaderboard_reads_its_index_alone(data):
    """Each session's latest score comes from `sscore_session_name` in window order: no table read
    (the index holds every column shown) and no sort before ranking by value."""

    def leaderboard(d):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_sort = off")
        analytics.session_score_comparison(project=d["project"], params=QueryDict("metric_name=ok"))

    plans = plan_with_only("sscore_session_name", "evaluations_sessionscore", leaderboard, data)
    assert "Index Only Scan using sscore_session_name" in plans, plans
    window = plans.split("WindowAgg")[1]
    assert "Sort" not in window.split("Index Only Scan")[0], plans


def test_the_score_value_filter_reads_each_traces_scores_by_index(data):
    """`score=accuracy < 1` is an EXISTS per trace of the page: `tscore_trace_name` finds its scores."""
    query = QueryDict("score=accuracy+%3C+1")
    plans = plan_with_only("tscore_trace_name", "evaluations_tracescore", _explorer_page(query), data)
    assert "tscore_trace_name" in plans, plans
