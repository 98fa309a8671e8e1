"""Writes for traces and spans.

Ingestion is an upsert on `trace_id` within a project, stored before the request is answered (one
transaction, bulk inserts), so a score sent right after its trace always finds it:
non-null fields overwrite, metadata merges, tags union, spans upsert by `span_id`.

Every write that changes what the analytics count (a trace's start hour, environment, status,
latency, tokens, cost; a span's model, tokens, cost) also updates the hourly rollup in the same
transaction, last (`rollup.py`): the contribution before the write is swapped for the one after.
"""

import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet, Sum

from pandaprobe.errors import Conflict, NotFound
from pandaprobe.projects.access import Action, ProjectAccess
from pandaprobe.projects.models import Project

from .models import Span, SpanKind, SpanStatus, Trace, TraceStatus
from .rollup import (
    model_totals,
    rollup_change,
    span_values,
    stored_model_totals,
    trace_contribution,
    traces_removal,
)
from .selectors import traces_of

# Fields copied as they come when not null; metadata, tags and spans have their own rules.
TRACE_SCALAR_FIELDS = (
    "name", "status", "input", "output", "started_at", "ended_at",
    "session_id", "user_id", "environment", "release",
)  # fmt: skip
SPAN_SCALAR_FIELDS = (
    "parent_span_id", "name", "kind", "status", "input", "output", "model", "token_usage", "started_at",
    "ended_at", "error", "completion_start_time", "model_parameters", "cost",
)  # fmt: skip
SPAN_TOTALS = ["total_tokens", "prompt_tokens", "completion_tokens", "total_cost"]
SPAN_UPSERT_FIELDS = [*SPAN_SCALAR_FIELDS, "metadata", *SPAN_TOTALS]
# What `_refresh_totals` changes on a trace.
TRACE_TOTALS = ["span_count", *SPAN_TOTALS, "updated_at"]
TOKEN_PARTS = (("prompt_tokens", "completion_tokens"), ("input_tokens", "output_tokens"), ("input", "output"))
# The token_usage keys the totals are computed from (validated as whole numbers on the way in).
TOKEN_COUNT_KEYS = ("total_tokens", *(key for pair in TOKEN_PARTS for key in pair))
# A delivery that keeps losing races with deletes of the same id gives up with a 409 after this many
# rounds (12 threads hammering one trace needed at most 3 in tests/traces/test_delete_races.py).
INGEST_ATTEMPTS = 10


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def span_token_split(token_usage: dict | None) -> tuple[int, int]:
    """(prompt, completion) tokens: the first known pair of TOKEN_PARTS, a missing half 0."""
    for first, second in TOKEN_PARTS if token_usage else ():
        parts = [_number(token_usage.get(first)), _number(token_usage.get(second))]
        if any(part is not None for part in parts):
            return int(parts[0] or 0), int(parts[1] or 0)
    return 0, 0


def span_total_tokens(token_usage: dict | None) -> int:
    """`total_tokens` when given, else the sum of the first known prompt/completion pair."""
    total = _number(token_usage.get("total_tokens")) if token_usage else None
    return int(total) if total is not None else sum(span_token_split(token_usage))


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


def _check_time_order(started_at: datetime | None, ended_at: datetime | None, what: str) -> None:
    """A body is checked on its own (schemas.py); this checks what a merge or PATCH would store, where
    one end may be the stored one."""
    if started_at is not None and ended_at is not None and ended_at < started_at:
        message = f"{what} would end ({ended_at.isoformat()}) before it started ({started_at.isoformat()})"
        raise ValidationError({"ended_at": message})


def _merge_trace(trace: Trace, data: dict) -> None:
    _apply_non_null(trace, data, TRACE_SCALAR_FIELDS)
    _check_time_order(trace.started_at, trace.ended_at, "The trace")
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
    _check_time_order(span.started_at, span.ended_at, f"Span {span.span_id}")
    if data.get("metadata"):
        span.metadata = {**(span.metadata or {}), **data["metadata"]}
    span.total_tokens = span_total_tokens(span.token_usage)
    span.prompt_tokens, span.completion_tokens = span_token_split(span.token_usage)
    span.total_cost = span_total_cost(span.cost)
    return span


def _upsert_spans(trace: Trace, spans_data: list[dict]) -> tuple[list[Span], list[tuple]]:
    """Insert or merge spans of an existing trace by `span_id`: the spans as stored now, and the
    `span_values` of those they replaced (for the rollup's difference)."""
    existing = {s.span_id: s for s in trace.spans.filter(span_id__in=[d["span_id"] for d in spans_data])}
    replaced = [span_values(span) for span in existing.values()]  # before the merge changes them
    spans = [_merge_span(existing.get(d["span_id"]) or _new_span(trace, d), d) for d in spans_data]
    if spans:
        Span.objects.bulk_create(
            spans, update_conflicts=True, unique_fields=["trace", "span_id"], update_fields=SPAN_UPSERT_FIELDS
        )
    return spans, replaced


def _refresh_totals(trace: Trace) -> None:
    sums = {field: Sum(field, default=0) for field in SPAN_TOTALS}
    totals = trace.spans.aggregate(span_count=Count("id"), **sums)
    for field in ["span_count", *SPAN_TOTALS]:
        setattr(trace, field, totals[field])


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
    for _ in range(INGEST_ATTEMPTS):
        with transaction.atomic():
            trace = _lock_trace(project, data["trace_id"])
            if trace is None:
                # Deleted since (a DELETE racing re-ingestion): store it anew, unless another delivery
                # just did (the insert waits for that one to commit, then fails on the key: left be).
                _trace_insert_bare(project, data)
                trace = _lock_trace(project, data["trace_id"])
            if trace is not None:  # else deleted again in between: try again
                return _trace_merge(trace, data, spans_data)
    raise Conflict("This trace was deleted and re-created while it was being stored; send it again")


def _trace_insert_bare(project: Project, data: dict) -> None:
    """Insert the trace without its spans unless its id is taken (then leave the stored one be)."""
    try:
        with transaction.atomic():
            trace = _new_trace(project, data)
            trace.save(force_insert=True)
            rollup_change(project_id=project.pk, before=None, after=trace_contribution(trace))
    except IntegrityError:
        pass


def _trace_merge(trace: Trace, data: dict, spans_data: list[dict]) -> Trace:
    before = trace_contribution(trace)
    _merge_trace(trace, data)
    moved = trace_contribution(trace).key != before.key  # a new start hour or environment
    if moved:  # every span's model row moves with the trace
        before.models = stored_model_totals(trace.pk)
    spans, replaced = _upsert_spans(trace, spans_data)
    _refresh_totals(trace)
    trace.save()
    if moved:
        after = trace_contribution(trace, stored_model_totals(trace.pk))
    else:  # the spans not sent are counted the same before and after: only the sent ones differ
        before.models = model_totals(replaced)
        after = trace_contribution(trace, model_totals(map(span_values, spans)))
    rollup_change(project_id=trace.project_id, before=before, after=after)
    return trace


def _trace_create(project: Project, data: dict, spans_data: list[dict]) -> Trace:
    trace = _new_trace(project, data)
    spans = [_merge_span(_new_span(trace, s), s) for s in spans_data]
    trace.span_count = len(spans)
    for field in SPAN_TOTALS:
        setattr(trace, field, sum(getattr(s, field) for s in spans))
    trace.save(force_insert=True)
    Span.objects.bulk_create(spans)
    after = trace_contribution(trace, model_totals(map(span_values, spans)))
    rollup_change(project_id=project.pk, before=None, after=after)
    return trace


def _dedupe_spans(spans_data: list[dict]) -> list[dict]:
    """Give every span an id; of two with one id in a body, the last wins."""
    by_id = {}
    for data in spans_data:
        by_id[data.get("span_id") or uuid.uuid4()] = data
    return [{**data, "span_id": span_id} for span_id, data in by_id.items()]


def _lock_existing(trace_id) -> Trace:
    """Lock the trace row; every writer of a trace's spans takes this lock first, so they queue
    instead of deadlocking, and a delete (which takes it too) waits for them or they find the trace
    gone: NotFound (404)."""
    trace = Trace.objects.select_for_update().filter(pk=trace_id).first()
    if trace is None:
        raise NotFound("Trace not found")
    return trace


def trace_hold(*, project: Project, trace_id) -> Trace:
    """The project's trace, locked until the caller's transaction ends, for a write that refers to it
    (a score). A delete of the trace takes the same lock: it either waits and then deletes that
    write's rows too, or has already happened and this raises NotFound (404) instead of the
    foreign-key violation the write would meet at commit. Call it inside `transaction.atomic()`."""
    # NO KEY UPDATE, not UPDATE: the foreign-key checks of the caller's inserts do not wait on it.
    # Only what a write takes from the trace: decoding its input and output cost the judge's worker
    # about a millisecond per trace.
    held = traces_of(project).select_for_update(no_key=True).only("project_id", "environment")
    trace = held.filter(pk=trace_id).first()
    if trace is None:
        raise NotFound("Trace not found")
    return trace


def session_hold(*, project: Project, session_id: str) -> None:
    """`trace_hold` for a write that refers to a session (a session score): locks the session's first
    trace, which a delete of the session (or of its last traces) locks too. NotFound (404) when the
    project has no trace in that session."""
    first = traces_of(project).filter(session_id=session_id).order_by("pk").select_for_update(no_key=True)
    if not first.values_list("pk", flat=True)[:1]:
        raise NotFound("Session not found")


def spans_add(*, access: ProjectAccess, trace: Trace, spans_data: list[dict]) -> list[Span]:
    """Upsert spans into an existing trace (`POST /traces/{trace_id}/spans`)."""
    access.require(Action.TRACE_INGEST)
    with transaction.atomic():
        trace = _lock_existing(trace.pk)
        before = trace_contribution(trace)
        spans, replaced = _upsert_spans(trace, _dedupe_spans(spans_data))
        _refresh_totals(trace)
        trace.save(update_fields=TRACE_TOTALS)
        before.models = model_totals(replaced)
        after = trace_contribution(trace, model_totals(map(span_values, spans)))
        rollup_change(project_id=trace.project_id, before=before, after=after)
    return spans


def trace_update(*, access: ProjectAccess, trace: Trace, data: dict) -> Trace:
    """Partial update (`PATCH /traces/{trace_id}`): sent non-null fields overwrite, metadata merges,
    tags are replaced."""
    access.require(Action.TRACE_EDIT)
    with transaction.atomic():
        trace = _lock_existing(trace.pk)
        before = trace_contribution(trace)
        tags = data.get("tags")
        _merge_trace(trace, {k: v for k, v in data.items() if k != "tags"})
        if tags is not None:
            trace.tags = list(dict.fromkeys(tags))
        trace.save()
        after = trace_contribution(trace)
        if after.key != before.key:  # a new start hour or environment: its spans' model rows move too
            before.models = after.models = stored_model_totals(trace.pk)
        rollup_change(project_id=trace.project_id, before=before, after=after)
    return trace


def span_update(*, access: ProjectAccess, span: Span, data: dict) -> Span:
    """Partial update of one span (`PATCH /traces/{trace_id}/spans/{span_id}`)."""
    access.require(Action.TRACE_EDIT)
    with transaction.atomic():
        trace = _lock_existing(span.trace_id)
        span = Span.objects.get(pk=span.pk)
        before = trace_contribution(trace, model_totals([span_values(span)]))
        _merge_span(span, data)
        span.save()
        _refresh_totals(trace)
        trace.save(update_fields=TRACE_TOTALS)
        after = trace_contribution(trace, model_totals([span_values(span)]))
        rollup_change(project_id=trace.project_id, before=before, after=after)
    return span


# --- deletes ---------------------------------------------------------------------------------------
# Deleting traces must delete what other apps keep about them (evaluations: trace and session scores)
# and record who did it (a "delete" event per score), in the same transaction. Dependencies point one
# way (projects <- traces <- evaluations), so this module cannot import evaluations: those apps
# register a purge here from their AppConfig.ready(). An explicit registry rather than a pre_delete
# signal or the foreign key's cascade: a signal fires per row (10k scores would be 10k events written
# one by one) and a cascade writes no event at all; a purge sees the whole batch and the actor.


class TraceDependentPurge(Protocol):
    def __call__(self, *, access: ProjectAccess, trace_ids: list, session_ids: list[str]) -> None:
        """Delete what refers to `trace_ids` (about to be deleted) and to `session_ids` (sessions
        left with no trace), inside the caller's transaction, with the traces already locked."""


_trace_dependents: list[TraceDependentPurge] = []


def register_trace_dependent(purge: TraceDependentPurge) -> None:
    """Have `purge` called by every trace and session delete (once, however often registered)."""
    if purge not in _trace_dependents:
        _trace_dependents.append(purge)


def _emptied_sessions(project: Project, deleted: list[tuple]) -> list[str]:
    """The sessions all of whose traces are among `deleted` (pk, session_id) pairs."""
    deleting = Counter(session_id for _, session_id in deleted if session_id is not None)
    stored = traces_of(project).filter(session_id__in=deleting).values("session_id").annotate(n=Count("pk"))
    return sorted(row["session_id"] for row in stored if row["n"] == deleting[row["session_id"]])


def _traces_delete(access: ProjectAccess, traces: QuerySet) -> int:
    """Lock `traces` (in key order, as every multi-trace writer does), purge what refers to them, delete
    them with their spans; returns how many went. Every writer of a trace's spans or scores takes the
    trace's lock first, so none can add a row between the purge and the delete."""
    with transaction.atomic():
        locked = list(traces.select_for_update().order_by("pk").values_list("pk", "session_id"))
        if not locked:
            return 0
        trace_ids = [pk for pk, _ in locked]
        session_ids = _emptied_sessions(access.project, locked)
        removal = traces_removal(trace_ids)
        for purge in _trace_dependents:
            purge(access=access, trace_ids=trace_ids, session_ids=session_ids)
        Trace.objects.filter(pk__in=trace_ids).delete()
        removal.apply(access.project.pk)
    return len(trace_ids)


def trace_delete(*, access: ProjectAccess, trace: Trace) -> None:
    """Delete a trace with its spans and scores (and its session's scores if it was the session's
    last trace). NotFound if it is gone already."""
    access.require(Action.TRACE_DELETE)
    if not _traces_delete(access, traces_of(access.project).filter(pk=trace.pk)):
        raise NotFound("Trace not found")


def traces_delete(*, access: ProjectAccess, trace_ids: list) -> int:
    """Delete the project's traces among `trace_ids` like `trace_delete`; returns how many went."""
    access.require(Action.TRACE_BATCH)
    return _traces_delete(access, traces_of(access.project).filter(pk__in=trace_ids))


def session_delete(*, access: ProjectAccess, session_id: str) -> int:
    """Delete every trace of the session, with their scores and the session's; returns how many
    traces went (0 for an unknown session)."""
    access.require(Action.TRACE_DELETE)
    if "\x00" in session_id:
        return 0  # no stored id holds one, and PostgreSQL refuses it in a query
    return _traces_delete(access, traces_of(access.project).filter(session_id=session_id))


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
