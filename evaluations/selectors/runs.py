"""Reads for evaluation runs: the runs, what they target, their scores, and what a target scores."""

import random
from dataclasses import dataclass
from uuid import UUID

from django.db.models import Q, QuerySet
from django.http import QueryDict

from pandaprobe.api.errors import require_valid
from pandaprobe.errors import get_or_not_found
from pandaprobe.traces.models import Span, Trace
from pandaprobe.traces.selectors import session_ids_matching as session_ids_of
from pandaprobe.traces.selectors import trace_list, traces_of

from ..filters import DeleteRunParams, EvalRunFilter, ExplorerFilter
from ..models import (
    EvalRun,
    EvalRunStatus,
    EvalTarget,
    EvalTargetStatus,
    EvalTargetType,
    ScoreSource,
    ScoreStatus,
    SessionScore,
    TraceScore,
)
from .annotations import explorer_traces

# EvalRunFilters (the API's names) -> the trace list's query parameters (one filter implementation).
RUN_FILTER_PARAMS = {
    "date_from": "started_after", "date_to": "started_before", "status": "status",
    "session_id": "session_id", "user_id": "user_id", "tags": "tags", "name": "name",
}  # fmt: skip
# SessionEvalRunFilters -> the session list's trace filters (has_error, min_trace_count: after grouping).
SESSION_FILTER_PARAMS = {"date_from": "started_after", "date_to": "started_before", "user_id": "user_id", "tags": "tags"}
SPAN_FIELDS = (
    "span_id", "parent_span_id", "name", "kind", "status", "input", "output", "model", "error", "started_at",
    "ended_at", "metadata", "model_parameters",
)  # fmt: skip


def runs_of(project, *, target_type: str | None = None) -> QuerySet:
    """The project's runs of one kind, or of every kind (the pages list trace and session runs)."""
    runs = EvalRun.objects.filter(project=project)
    return runs if target_type is None else runs.filter(target_type=target_type)


def eval_run_get(*, project, run_id, target_type: str | None = None) -> EvalRun:
    return get_or_not_found(runs_of(project, target_type=target_type), "Eval run not found", pk=run_id)


def eval_run_list(*, project, params, target_type: str | None = None) -> QuerySet:
    """The project's runs (of one kind, or all), newest first, filtered by `status` (422 on a bad one)."""
    filterset = require_valid(EvalRunFilter(params, queryset=runs_of(project, target_type=target_type)))
    return filterset.qs.order_by("-created_at", "-id")


def delete_scores_param(params) -> bool:
    return require_valid(DeleteRunParams(params)).cleaned_data["delete_scores"]


def trace_filter_params(filters: dict) -> dict:
    """A run's filters as the trace list's query parameters (unknown keys are the caller's error)."""
    params = {}
    for key, value in filters.items():
        if value in (None, "", []):
            continue
        params[RUN_FILTER_PARAMS[key]] = value
    return params


@dataclass(frozen=True)
class ExplorerScope:
    """The traces the explorer shows for a query, in the form a run takes them: the run's `filters`
    when they can say the same, else (`unsupported` names the explorer filters they cannot) the
    matching `traces`, to be run by id."""

    total: int
    filters: dict | None
    unsupported: list[str]
    traces: QuerySet


def _explorer_filters_used(params: QueryDict) -> set[str]:
    # Sorting, paging and the range preset (already turned into `started_after` by `explorer_params`)
    # change no trace's membership; empty boxes of the explorer's form filter nothing.
    names = set(ExplorerFilter.base_filters) - set(ExplorerFilter.NOT_FILTERS)
    return {name for name in names if any(value.strip() for value in params.getlist(name))}


# What a run's stored filters say as the explorer does. Not the user and environment: the explorer
# matches them case-insensitively, a run's filter exactly (the API's), so a run over them lists ids.
RUN_EXPRESSIBLE = set(RUN_FILTER_PARAMS.values()) - set(ExplorerFilter.CASE_INSENSITIVE)


def _run_filters(params: QueryDict) -> dict:
    filters = {}
    for key, param in RUN_FILTER_PARAMS.items():
        values = [value for value in params.getlist(param) if value.strip()]
        if values:
            # The explorer's filters read the last value of a repeated parameter, and every tag.
            filters[key] = values if key == "tags" else values[-1]
    return filters


def explorer_run_scope(*, project, params: QueryDict) -> ExplorerScope:
    """What a run started from the explorer's query (`explorer_params`) evaluates: exactly the
    explorer's rows. A `ValidationError` naming the parameter when the explorer would refuse it."""
    traces = explorer_traces(project=project, params=params)
    unsupported = sorted(_explorer_filters_used(params) - RUN_EXPRESSIBLE)
    filters = None if unsupported else _run_filters(params)
    return ExplorerScope(total=traces.count(), filters=filters, unsupported=unsupported, traces=traces)


def trace_ids_matching(*, project, filters: dict) -> list[UUID]:
    """Ids of the project's traces matching a run's filters, in a stable order (422 on a bad filter)."""
    query = QueryDict(mutable=True)
    for key, value in trace_filter_params(filters).items():
        query.setlist(key, value if isinstance(value, list) else [str(value)])
    return list(trace_list(project=project, params=query).order_by("pk").values_list("pk", flat=True))


def sample(ids: list, rate: float, seed: int | None) -> list:
    """`rate` of `ids` at random, the same ones for the same seed; in the order of `ids`."""
    if rate >= 1.0:
        return list(ids)
    count = round(len(ids) * rate)
    chosen = set(random.Random(seed).sample(range(len(ids)), count))
    return [item for index, item in enumerate(ids) if index in chosen]


def traces_found(*, project, trace_ids: list[UUID]) -> set[UUID]:
    return set(traces_of(project).filter(pk__in=trace_ids).values_list("pk", flat=True))


def session_ids_matching(*, project, filters: dict) -> list[str]:
    """Ids of the project's sessions matching a session run's filters (422 on a bad filter)."""
    params = QueryDict(mutable=True)
    for key, value in filters.items():
        if key in ("has_error", "min_trace_count") or value in (None, "", []):
            continue
        params.setlist(SESSION_FILTER_PARAMS[key], value if isinstance(value, list) else [str(value)])
    return session_ids_of(
        project=project, params=params, has_error=filters.get("has_error"),
        min_trace_count=filters.get("min_trace_count"),
    )  # fmt: skip


def _judging_data(traces: QuerySet) -> list[tuple[UUID, dict, list[dict]]]:
    """Each trace as (id, trace, spans) in plain data: two queries, whatever the number of traces."""
    rows = {row.pop("pk"): row for row in traces.values("pk", "name", "status", "input", "output", "metadata")}
    spans: dict = {trace_id: [] for trace_id in rows}
    for span in Span.objects.filter(trace_id__in=list(rows)).values("trace_id", *SPAN_FIELDS):
        spans[span.pop("trace_id")].append(span)
    return [(trace_id, row, spans[trace_id]) for trace_id, row in rows.items()]


def trace_for_judging(*, project_id, trace_id) -> tuple[dict, list[dict]] | None:
    """A trace and its spans as plain data for the trace view; None when it is gone."""
    loaded = _judging_data(Trace.objects.filter(project_id=project_id, pk=trace_id))
    return (loaded[0][1], loaded[0][2]) if loaded else None


def traces_for_judging(*, project_id, trace_ids: list) -> list[tuple[UUID, dict, list[dict]]]:
    """Several traces as (id, trace, spans), in two queries (a dry run's sample)."""
    return _judging_data(Trace.objects.filter(project_id=project_id, pk__in=trace_ids))


def session_for_judging(*, project_id, session_id: str) -> list[tuple[UUID, dict, list[dict]]]:
    """A session's traces in order (`started_at`), each as (id, trace, spans) for the trace view."""
    traces = Trace.objects.filter(project_id=project_id, session_id=session_id).order_by("started_at", "pk")
    return _judging_data(traces)


def judge_scores_of(*, project_id, trace_ids: list, names) -> dict[tuple, TraceScore]:
    """The newest AUTOMATED SUCCESS score of each name on each trace: signals a session run may reuse."""
    scores = TraceScore.objects.filter(
        project_id=project_id, trace_id__in=trace_ids, name__in=list(names),
        source=ScoreSource.AUTOMATED, status=ScoreStatus.SUCCESS,
    ).order_by("trace_id", "name", "-created_at")  # fmt: skip
    newest: dict[tuple, TraceScore] = {}
    for score in scores.only("id", "trace_id", "name", "value", "numeric_value", "metadata", "created_at"):
        newest.setdefault((score.trace_id, score.name), score)
    return newest


def run_trace_scores(*, run: EvalRun, trace_ids: list) -> dict[tuple, TraceScore]:
    """This run's trace scores on these traces, by (trace, name): a redelivered session keeps them."""
    scores = TraceScore.objects.filter(eval_run=run, trace_id__in=trace_ids)
    return {(score.trace_id, score.name): score for score in scores}


# What scores a run's targets: trace runs score traces, session runs score sessions (their trace
# signals are trace scores of the run too, but the run's pairs are the session scores).
RUN_SCORES = {EvalTargetType.TRACE: (TraceScore, "trace_id"), EvalTargetType.SESSION: (SessionScore, "session_id")}


def _run_scores(run: EvalRun) -> tuple[QuerySet, str]:
    model, key = RUN_SCORES[run.target_type]
    return model.objects.filter(eval_run=run), key


def metrics_scored(*, run: EvalRun, target: EvalTarget) -> set[str]:
    """Names this run already scored on the target (a redelivered item skips them)."""
    if target.attempts <= 1:
        return set()  # only a holder of the item writes its scores, and this is its first holder
    scores, key = _run_scores(run)
    return set(scores.filter(**{key: getattr(target, key)}).values_list("name", flat=True))


def failed_pairs(*, run: EvalRun) -> dict:
    """Target id -> metric names that FAILED in the run (what a retry scores again)."""
    scores, key = _run_scores(run)
    pairs: dict = {}
    for target_id, name in scores.filter(status=ScoreStatus.FAILED).order_by(key, "name").values_list(key, "name"):
        pairs.setdefault(target_id, []).append(name)
    return pairs


def run_scores(*, run: EvalRun) -> QuerySet:
    scores, key = _run_scores(run)
    return scores.order_by(key, "name")


def targets_to_resume(*, now, stale_before=None) -> QuerySet:
    """Items of unfinished runs that no live worker holds: running ones whose lease ran out, and
    pending ones sent before `stale_before` (all pending ones when it is None: after a restart of the
    in-process worker, whose queue died with it)."""
    active = EvalTarget.objects.filter(run__status__in=[EvalRunStatus.PENDING, EvalRunStatus.RUNNING])
    pending = Q(status=EvalTargetStatus.PENDING)
    if stale_before is not None:
        pending &= Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=stale_before)
    return active.filter(pending | Q(status=EvalTargetStatus.RUNNING, lease_until__lt=now))
