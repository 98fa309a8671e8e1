"""Reads for scores. Every query starts from a project: another project's ids are simply not found."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from django.db import connections, transaction
from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber

from pandaprobe.api.errors import require_valid
from pandaprobe.errors import NotFound, get_or_not_found
from pandaprobe.projects.access import Action, ProjectAccess
from pandaprobe.traces.selectors import trace_get_bare

from ..filters import ExportParams, TraceScoreFilter
from ..models import ScoreEvent, SessionScore, TraceScore

# Columns of a trace a score never shows (they can be megabytes).
TRACE_PAYLOADS = ("input", "output", "metadata")
# Newest first; equal created_at falls back to the higher id so pages and "latest" are stable.
NEWEST_FIRST = ("-created_at", "-id")
# Export column -> field; a score's trace comes from the same query (one join, no per-row reads).
EXPORT_COLUMNS = {
    "id": "id", "trace_id": "trace_id", "trace_name": "trace__name", "session_id": "trace__session_id",
    "user_id": "trace__user_id", "name": "name", "value": "value", "numeric_value": "numeric_value",
    "data_type": "data_type", "source": "source", "status": "status", "eval_run_id": "eval_run_id",
    "author_user_id": "author_id", "reason": "reason", "environment": "trace__environment", "config_id": "config_id",
    "metadata": "metadata", "created_at": "created_at", "updated_at": "updated_at",
}  # fmt: skip


def trace_scores_of(project) -> QuerySet:
    """The project's trace scores, each with its trace's current environment, which responses show
    (the `environment` column keeps the one at scoring time): one join on the trace's primary key,
    leaving out the trace's payloads."""
    return (
        TraceScore.objects.filter(project=project)
        .select_related("trace")
        .defer(*(f"trace__{field}" for field in TRACE_PAYLOADS))
    )


def trace_score_get(*, project, score_id) -> TraceScore:
    """One score of the project (404 otherwise)."""
    return get_or_not_found(trace_scores_of(project), "Score not found", pk=score_id)


def trace_scores_list(*, project, params) -> QuerySet:
    """The project's scores filtered by query parameters (422 on a bad one), newest first."""
    filterset = require_valid(TraceScoreFilter(params, queryset=trace_scores_of(project)))
    return filterset.qs.order_by(*NEWEST_FIRST)


def exact_count(queryset: QuerySet) -> int:
    """`queryset.count()`, on PostgreSQL without parallel workers.

    The list's totals are index-only counts of up to a few hundred thousand entries; starting
    parallel workers for them costs more than it saves (benchmarks/bench_scores.py, 200k rows on
    2 cores: ~18 ms parallel vs ~10 ms serial, and worse when the machine is busy).
    """
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return queryset.count()
    with transaction.atomic(using=queryset.db), connection.cursor() as cursor:
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        return queryset.count()


def latest_per_name(scores: QuerySet, *, partition: list) -> QuerySet:
    """Rank 1 of each partition by created_at, then id, both descending (FAILED scores count)."""
    ranked = scores.annotate(
        rank=Window(RowNumber(), partition_by=partition, order_by=[F(f[1:]).desc() for f in NEWEST_FIRST])
    )
    return ranked.filter(rank=1).order_by("name")


def latest_scores_for_trace(*, project, trace_id) -> list[TraceScore]:
    """The newest score of each name on one trace, by name (no check that the trace exists)."""
    scores = trace_scores_of(project).filter(trace_id=trace_id)
    return list(latest_per_name(scores, partition=[F("name")]))


def latest_scores_per_reviewer(*, project, trace_ids: Iterable[UUID]) -> dict[UUID, list[TraceScore]]:
    """The newest score of each (name, source, author) on each trace, by name then newest first: one
    person's score never hides another's, and the judge's stands beside the humans'. One query for
    any number of traces (the trace page, the queue page and the explorer's badges all read this);
    traces without scores map to an empty list."""
    trace_ids = list(trace_ids)
    result: dict[UUID, list[TraceScore]] = defaultdict(list)
    scores = trace_scores_of(project).filter(trace_id__in=trace_ids).select_related("author", "config")
    partition = [F("trace_id"), F("name"), F("source"), F("author_id")]
    for score in latest_per_name(scores, partition=partition).order_by("name", *NEWEST_FIRST):
        result[score.trace_id].append(score)
    return {trace_id: result.get(trace_id, []) for trace_id in trace_ids}


def trace_scores_overview(*, project, trace_id) -> list[TraceScore]:
    """The score-overview panel of a trace: 404 for a trace that is not the project's."""
    trace_get_bare(project=project, trace_id=trace_id)
    return latest_scores_for_trace(project=project, trace_id=trace_id)


# The score table behind each history target.
SCORE_MODELS = {ScoreEvent.Target.TRACE: TraceScore, ScoreEvent.Target.SESSION: SessionScore}


def _score_exists(event: ScoreEvent) -> bool:
    model = SCORE_MODELS[event.target]
    return model.objects.filter(pk=event.score_id, project_id=event.project_id).exists()


def score_history(
    *, project, score_id, target: str | None = None, include_deleted: bool = True
) -> list[ScoreEvent]:
    """A score's edit history, oldest first (404 when there is none).

    A deleted score (deleted through the API, or with its trace) is 404 unless `include_deleted`,
    which the API grants to project admins and API keys.
    """
    events = ScoreEvent.objects.filter(project=project, score_id=score_id).select_related(
        "actor_user", "actor_api_key"
    )
    if target is not None:
        events = events.filter(target=target)
    events = list(events.order_by("created_at", "id"))
    if not events:
        raise NotFound("Score not found")
    if not include_deleted and not _score_exists(events[-1]):
        raise NotFound("Score not found")
    return events


def trace_scores_export(*, project, params) -> QuerySet:
    """Rows (tuples in `EXPORT_COLUMNS` order) for an export: the list's filters, newest first, each
    score with its trace's name, session_id and user_id. The caller streams it with `.iterator()`."""
    require_valid(ExportParams(params))
    scores = trace_scores_list(project=project, params=params)
    return scores.values_list(*EXPORT_COLUMNS.values())


def score_events_by_score(
    *, project, target: str, include_deleted: bool, **subject
) -> dict[UUID, list[ScoreEvent]]:
    """The edit history of the scores of one trace (`trace_id=`) or session (`session_id=`), by
    score id, oldest first: one query for a whole score panel. Deleted scores' events are left out
    unless `include_deleted` (the same rule as `score_history`)."""
    events = ScoreEvent.objects.filter(project=project, target=target, **subject)
    if not include_deleted:
        live = SCORE_MODELS[target].objects.filter(project=project, **subject).values("pk")
        events = events.filter(score_id__in=live)
    by_score: dict[UUID, list[ScoreEvent]] = defaultdict(list)
    for event in events.order_by("created_at", "id"):
        by_score[event.score_id].append(event)
    return dict(by_score)


@dataclass
class ScorePanel:
    """The score panel of the trace and session pages."""

    history: dict[UUID, list[ScoreEvent]]  # each score's own history, by score id
    removed: dict[str, list[ScoreEvent]]  # the history of deleted scores, by name


def _deleted_by_name(history: dict[UUID, list[ScoreEvent]], shown: set) -> dict[str, list[ScoreEvent]]:
    # History stays per score: an older score that a newer one of its author replaced is not
    # "deleted"; only scores whose last event is a delete are.
    removed: dict[str, list[ScoreEvent]] = defaultdict(list)
    for score_id, events in history.items():
        if score_id not in shown and events[-1].action == ScoreEvent.Action.DELETE:
            removed[events[-1].score_name].extend(events)
    return dict(removed)


def score_panel(*, access: ProjectAccess, target: str, scores: list, **subject) -> ScorePanel:
    """The panel for `scores` (one trace's or session's scores shown), each with its own history.
    Deleted scores' history is shown only to who may read it (`SCORE_HISTORY_DELETED`, as in the
    API)."""
    history = score_events_by_score(
        project=access.project,
        target=target,
        include_deleted=access.can(Action.SCORE_HISTORY_DELETED),
        **subject,
    )
    return ScorePanel(
        history=history,
        removed=_deleted_by_name(history, {score.pk for score in scores}),
    )
