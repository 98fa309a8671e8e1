"""Writes for traces and spans.

Ingestion is an upsert on `trace_id` within a project, stored before the request is answered (one
transaction, bulk inserts), so a score sent right after its trace always finds it:
non-null fields overwrite, metadata merges, tags union, spans upsert by `span_id`.
"""

import uuid
from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Count, Sum

from pandaprobe.errors import Conflict
from pandaprobe.projects.access import Action, ProjectAccess
from pandaprobe.projects.models import Project

from .models import Span, SpanKind, SpanStatus, Trace, TraceStatus

# Fields copied as they come when not null; metadata, tags and spans have their own rules.
TRACE_SCALAR_FIELDS = (
    "name", "status", "input", "output", "started_at", "ended_at",
    "session_id", "user_id", "environment", "release",
)  # fmt: skip
SPAN_SCALAR_FIELDS = (
    "parent_span_id", "name", "kind", "status", "input", "output", "model", "token_usage", "started_at",
    "ended_at", "error", "completion_start_time", "model_parameters", "cost",
)  # fmt: skip
SPAN_UPSERT_FIELDS = [*SPAN_SCALAR_FIELDS, "metadata", "total_tokens", "total_cost"]
TOKEN_PARTS = (("prompt_tokens", "completion_tokens"), ("input_tokens", "output_tokens"), ("input", "output"))
# The token_usage keys the totals are computed from (validated as whole numbers on the way in).
TOKEN_COUNT_KEYS = ("total_tokens", *(key for pair in TOKEN_PARTS for key in pair))


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def span_total_tokens(token_usage: dict | None) -> int:
    """`total_tokens` when given, else the sum of the first known prompt/completion pair."""
    if not token_usage:
        return 0
    total = _number(token_usage.get("total_tokens"))
    if total is not None:
        return int(total)
    for first, second in TOKEN_PARTS:
        parts = [_number(token_usage.get(first)), _number(token_usage.get(second))]
        if any(part is not None for part in parts):
            return int(sum(part or 0 for part in parts))
    return 0


def span_total_cost(cost: dict | None) -> float:
    """`total` when given, else the sum of the cost parts."""
    if not cost:
        return 0.0
    total = _number(cost.get("total"))
    if total is not None:
        return total
    return float(sum(_number(value) or 0.0 for value in cost.values()))


def _latency_ms(started_at: datetime | None, ended_at: datetime | None) -> float | None:
    if started_at is None or ended_at is None:
        return None
    return (ended_at - started_at).total_seconds() * 1000


def _union(existing: Iterable[str], new: Iterable[str]) -> list[str]:
    return list(dict.fromkeys([*existing, *new]))


def _apply_non_null(target, data: dict, fields: Iterable[str]) -> None:
    for field in fields:
        if data.get(field) is not None:
            setattr(target, field, data[field])


def _merge_trace(trace: Trace, data: dict) -> None:
    _apply_non_null(trace, data, TRACE_SCALAR_FIELDS)
    if data.get("metadata"):
        trace.metadata = {**(trace.metadata or {}), **data["metadata"]}
    if data.get("tags"):
        trace.tags = _union(trace.tags or [], data["tags"])
    trace.latency_ms = _latency_ms(trace.started_at, trace.ended_at)


def _new_trace(project: Project, data: dict) -> Trace:
    trace = Trace(
        project=project, trace_id=data["trace_id"], status=TraceStatus.COMPLETED, metadata={}, tags=[]
    )
    _merge_trace(trace, data)
    return trace


def _new_span(trace: Trace, data: dict) -> Span:
    return Span(
        trace=trace, span_id=data["span_id"], kind=SpanKind.OTHER, status=SpanStatus.UNSET, metadata={}
    )


def _merge_span(span: Span, data: dict) -> Span:
    _apply_non_null(span, data, SPAN_SCALAR_FIELDS)
    if data.get("metadata"):
        span.metadata = {**(span.metadata or {}), **data["metadata"]}
    span.total_tokens = span_total_tokens(span.token_usage)
    span.total_cost = span_total_cost(span.cost)
    return span


def _upsert_spans(trace: Trace, spans_data: list[dict]) -> list[Span]:
    """Insert or merge spans of an existing trace by `span_id`."""
    existing = {s.span_id: s for s in trace.spans.filter(span_id__in=[d["span_id"] for d in spans_data])}
    spans = [_merge_span(existing.get(d["span_id"]) or _new_span(trace, d), d) for d in spans_data]
    if spans:
        Span.objects.bulk_create(
            spans, update_conflicts=True, unique_fields=["trace", "span_id"], update_fields=SPAN_UPSERT_FIELDS
        )
    return spans


def _refresh_totals(trace: Trace) -> None:
    totals = trace.spans.aggregate(count=Count("id"), tokens=Sum("total_tokens"), cost=Sum("total_cost"))
    trace.span_count = totals["count"]
    trace.total_tokens = totals["tokens"] or 0
    trace.total_cost = totals["cost"] or 0.0


def _lock_trace(project: Project, trace_id) -> Trace | None:
    trace = Trace.objects.select_for_update().filter(pk=trace_id).first()
    if trace is not None and trace.project_id != project.pk:
        raise Conflict("This trace_id belongs to another project")
    return trace


def trace_ingest(*, access: ProjectAccess, data: dict) -> Trace:
    """Create or merge a trace and its spans (`POST /traces`). Raises Conflict (409) for a
    trace_id owned by another project."""
    access.require(Action.TRACE_INGEST)
    project = access.project
    data = {**data, "trace_id": data.get("trace_id") or uuid.uuid4()}
    spans_data = _dedupe_spans(data.pop("spans", None) or [])
    try:
        # Most traces arrive once: insert straight away, with no lookup or lock first.
        with transaction.atomic():
            return _trace_create(project, data, spans_data)
    except IntegrityError:
        pass
    # The id exists: a re-delivery, a later part of the trace, a concurrent first delivery, or
    # another project's trace. Merge under the row's lock.
    with transaction.atomic():
        trace = _lock_trace(project, data["trace_id"])
        if trace is None:  # deleted in between
            return _trace_create(project, data, spans_data)
        _merge_trace(trace, data)
        _upsert_spans(trace, spans_data)
        _refresh_totals(trace)
        trace.save()
        return trace


def _trace_create(project: Project, data: dict, spans_data: list[dict]) -> Trace:
    trace = _new_trace(project, data)
    spans = [_merge_span(_new_span(trace, s), s) for s in spans_data]
    trace.span_count = len(spans)
    trace.total_tokens = sum(s.total_tokens for s in spans)
    trace.total_cost = sum(s.total_cost for s in spans)
    trace.save(force_insert=True)
    Span.objects.bulk_create(spans)
    return trace


def _dedupe_spans(spans_data: list[dict]) -> list[dict]:
    """Give every span an id; of two with one id in a body, the last wins."""
    by_id = {}
    for data in spans_data:
        by_id[data.get("span_id") or uuid.uuid4()] = data
    return [{**data, "span_id": span_id} for span_id, data in by_id.items()]


def _lock_existing(trace_id) -> Trace:
    """Lock the trace row; every writer of a trace's spans takes this lock first, so they queue
    instead of deadlocking. Raises Trace.DoesNotExist (a 404) if it was deleted meanwhile."""
    return Trace.objects.select_for_update().get(pk=trace_id)


def spans_add(*, access: ProjectAccess, trace: Trace, spans_data: list[dict]) -> list[Span]:
    """Upsert spans into an existing trace (`POST /traces/{trace_id}/spans`)."""
    access.require(Action.TRACE_INGEST)
    with transaction.atomic():
        trace = _lock_existing(trace.pk)
        spans = _upsert_spans(trace, _dedupe_spans(spans_data))
        _refresh_totals(trace)
        trace.save(update_fields=["span_count", "total_tokens", "total_cost", "updated_at"])
    return spans


def trace_update(*, access: ProjectAccess, trace: Trace, data: dict) -> Trace:
    """Partial update (`PATCH /traces/{trace_id}`): sent non-null fields overwrite, metadata merges,
    tags are replaced."""
    access.require(Action.TRACE_EDIT)
    with transaction.atomic():
        trace = _lock_existing(trace.pk)
        tags = data.get("tags")
        _merge_trace(trace, {k: v for k, v in data.items() if k != "tags"})
        if tags is not None:
            trace.tags = list(dict.fromkeys(tags))
        trace.save()
    return trace


def span_update(*, access: ProjectAccess, span: Span, data: dict) -> Span:
    """Partial update of one span (`PATCH /traces/{trace_id}/spans/{span_id}`)."""
    access.require(Action.TRACE_EDIT)
    with transaction.atomic():
        trace = _lock_existing(span.trace_id)
        span = Span.objects.get(pk=span.pk)
        _merge_span(span, data)
        span.save()
        _refresh_totals(trace)
        trace.save(update_fields=["span_count", "total_tokens", "total_cost", "updated_at"])
    return span


def trace_delete(*, access: ProjectAccess, trace: Trace) -> None:
    access.require(Action.TRACE_DELETE)
    trace.delete()


def traces_delete(*, access: ProjectAccess, trace_ids: list) -> int:
    """Delete the project's traces among `trace_ids`; returns how many traces went."""
    access.require(Action.TRACE_BATCH)
    _, per_model = Trace.objects.filter(project=access.project, pk__in=trace_ids).delete()
    return per_model.get(Trace._meta.label, 0)


def session_delete(*, access: ProjectAccess, session_id: str) -> int:
    """Delete every trace of the session; returns how many went (0 for an unknown session)."""
    access.require(Action.TRACE_DELETE)
    project = access.project
    if "\x00" in session_id:
        return 0  # no stored id holds one, and PostgreSQL refuses it in a query
    _, per_model = Trace.objects.filter(project=project, session_id=session_id).delete()
    return per_model.get(Trace._meta.label, 0)


def traces_retag(*, access: ProjectAccess, trace_ids: list, add_tags: list[str], remove_tags: list[str]) -> int:
    """Add then remove tags on the project's traces among `trace_ids`; returns how many matched."""
    access.require(Action.TRACE_BATCH)
    project = access.project
    removed = set(remove_tags)
    with transaction.atomic():
        # Locked in key order, so two overlapping batches cannot deadlock.
        traces = list(
            Trace.objects.select_for_update().filter(project=project, pk__in=trace_ids).order_by("pk")
        )
        for trace in traces:
            trace.tags = [tag for tag in _union(trace.tags or [], add_tags) if tag not in removed]
        Trace.objects.bulk_update(traces, ["tags"])
    return len(traces)
