"""Reads for traces, spans and sessions. Every query starts from `traces_of(project)`."""

from django.db.models import Case, Count, IntegerField, Max, Min, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce

from pandaprobe.api.errors import require_valid, validate_all
from pandaprobe.errors import NotFound, get_or_not_found

from .filters import SessionGroupParams, SessionTraceFilter, TraceFilter, ordered
from .models import Span, Trace, TraceStatus


def traces_of(project) -> QuerySet:
    return Trace.objects.filter(project=project)


def trace_get(*, project, trace_id) -> Trace:
    return get_or_not_found(traces_of(project).prefetch_related("spans"), "Trace not found", pk=trace_id)


def trace_get_bare(*, project, trace_id) -> Trace:
    """The trace without its spans, for writes that only need to know it is the project's."""
    return get_or_not_found(traces_of(project), "Trace not found", pk=trace_id)


def span_get(*, project, trace_id, span_id) -> Span:
    spans = Span.objects.filter(trace__project=project, trace_id=trace_id)
    return get_or_not_found(spans, "Span not found", span_id=span_id)


def trace_list(*, project, params) -> QuerySet:
    """The project's traces filtered and sorted by query parameters (422 on a bad one)."""
    filterset = require_valid(TraceFilter(params, queryset=traces_of(project)))
    return filterset.qs


def _session_rows(traces: QuerySet) -> QuerySet:
    return (
        traces.filter(session_id__isnull=False)
        .values("session_id")
        .annotate(
            trace_count=Count("pk"),
            first_trace_at=Min("started_at"),
            last_trace_at=Max(Coalesce("ended_at", "started_at")),
            total_latency_ms=Sum("latency_ms"),
            error_count=Sum(
                Case(
                    When(status=TraceStatus.ERROR, then=Value(1)),
                    default=Value(0),
                    output_field=IntegerField(),
                )
            ),
            user_id=Max("user_id"),
            total_span_count=Sum("span_count"),
            total_tokens=Sum("total_tokens"),
            total_cost=Sum("total_cost"),
        )
    )


def _with_tags(project, rows: list[dict]) -> list[dict]:
    """Each session's tags: the union over its traces, in first-seen order (one query per page)."""
    tags: dict[str, list[str]] = {row["session_id"]: [] for row in rows}
    pairs = (
        traces_of(project)
        .filter(session_id__in=tags)
        .order_by("started_at")
        .values_list("session_id", "tags")
    )
    for session_id, trace_tags in pairs:
        tags[session_id].extend(t for t in trace_tags or [] if t not in tags[session_id])
    for row in rows:
        row["tags"] = tags[row["session_id"]]
        row["has_error"] = bool(row.pop("error_count"))
        row["total_tokens"] = row["total_tokens"] or 0
        row["total_cost"] = row["total_cost"] or 0.0
        row["total_span_count"] = row["total_span_count"] or 0
    return rows


def session_params_check(params) -> None:
    """Raise one ValidationError listing every bad session filter or option."""
    validate_all(
        lambda: require_valid(SessionTraceFilter(params, queryset=Trace.objects.none())),
        lambda: require_valid(SessionGroupParams(params)),
    )


def session_list(*, project, params, limit: int, offset: int) -> dict:
    """Sessions (traces grouped by `session_id`) as a page envelope."""
    traces = require_valid(SessionTraceFilter(params, queryset=traces_of(project))).qs
    options = require_valid(SessionGroupParams(params)).cleaned_data
    rows = _session_rows(traces)
    if options.get("has_error") is not None:
        rows = rows.filter(error_count__gt=0) if options["has_error"] else rows.filter(error_count=0)
    field = SessionGroupParams.SORT_FIELDS[options.get("sort_by") or "recent"]
    rows = ordered(rows, field, options.get("sort_order") or "desc", tiebreak="session_id")
    page = list(rows[offset : offset + limit])
    return {"items": _with_tags(project, page), "total": rows.count(), "limit": limit, "offset": offset}


def session_get(*, project, session_id: str, limit: int, offset: int) -> dict:
    """One session's aggregate with a page of its traces (with spans), oldest first."""
    if "\x00" in session_id:
        raise NotFound("Session not found")  # no stored id holds one, and PostgreSQL refuses it
    row = next(iter(_session_rows(traces_of(project).filter(session_id=session_id)).order_by()), None)
    if row is None:
        raise NotFound("Session not found")
    traces = (
        traces_of(project)
        .filter(session_id=session_id)
        .order_by("started_at", "pk")
        .prefetch_related("spans")
    )
    detail = _with_tags(project, [row])[0]
    detail["traces"] = list(traces[offset : offset + limit])
    return detail


def session_ids_matching(*, project, params, has_error: bool | None = None, min_trace_count: int | None = None) -> list[str]:
    """Ids of the project's sessions with a trace matching `params` (the session trace filters; 422
    on a bad one), then judged whole: `has_error` and `min_trace_count` count all their traces."""
    traces = require_valid(SessionTraceFilter(params, queryset=traces_of(project))).qs
    matched = traces.filter(session_id__isnull=False).values("session_id")
    rows = _session_rows(traces_of(project).filter(session_id__in=matched))
    if has_error is not None:
        rows = rows.filter(error_count__gt=0) if has_error else rows.filter(error_count=0)
    if min_trace_count:
        rows = rows.filter(trace_count__gte=min_trace_count)
    return list(rows.order_by("session_id").values_list("session_id", flat=True))


def sessions_found(*, project, session_ids: list[str]) -> set[str]:
    ids = [session_id for session_id in session_ids if "\x00" not in session_id]
    return set(traces_of(project).filter(session_id__in=ids).values_list("session_id", flat=True).distinct())
