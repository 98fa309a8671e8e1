"""The hourly rollup of traces (`TraceHourStats`): kept by the trace services in their own
transactions, rebuilt from the traces by `trace_rollup_rebuild`.

A stored trace contributes to the row of its (project, UTC hour of `started_at`, environment) with
model "": one trace, an error or not, its latency, tokens and cost; and each of its spans with a
model to the row of that model: one call, its tokens and cost. A write computes what it changes of
that contribution (before and after, under the trace's lock) and adds the difference with one
increment upsert, so the rollup stays the sum over the stored traces: counts and tokens exactly;
cost and latency sums are float sums, equal to a recomputation up to rounding (as any SUM of floats
taken in another order).

The rollup is written last in a transaction (after the trace and spans): a row is shared by every
trace of that project, hour and environment, and its lock is held from the upsert to the commit.
One table rather than one for traces and one for models: one statement per write, not two (about
0.09 ms of Python and as much of PostgreSQL each, on a 6 ms ingestion).
"""

import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, Trunc

from pandaprobe.projects.models import Project

from .models import Span, Trace, TraceHourStats, TraceStatus

KEY_FIELDS = ("hour", "environment", "model")
MEASURES = (
    "trace_count", "error_count", "latency_count", "latency_sum_ms", "call_count",
    "total_tokens", "prompt_tokens", "completion_tokens", "total_cost",
)  # fmt: skip
# A model row's measures are its spans' (calls, tokens, cost); the others are 0 there.
MODEL_MEASURES = ("call_count", "total_tokens", "prompt_tokens", "completion_tokens", "total_cost")
TRACES = ""  # the `model` of the row of the traces themselves

Key = tuple[datetime, str]  # (hour, environment)


def hour_of(started_at: datetime) -> datetime:
    """The UTC hour a start time falls in, as the analytics' `Trunc(..., "hour", tzinfo=UTC)`."""
    return started_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class Contribution:
    """What one trace adds to the rollup at its key: its own MEASURES (None for none), and per model
    its spans' MODEL_MEASURES."""

    key: Key
    trace: tuple | None
    models: dict[str, tuple] = field(default_factory=dict)


def trace_key(trace: Trace) -> Key:
    return (hour_of(trace.started_at), trace.environment or "")


def trace_contribution(trace: Trace, models: dict[str, tuple] | None = None) -> Contribution:
    """`trace` as stored (or about to be), with `models` (`model_totals` of its spans) or none."""
    latency = trace.latency_ms
    measures = (
        1, int(trace.status == TraceStatus.ERROR), int(latency is not None), latency or 0.0, 0,
        trace.total_tokens, trace.prompt_tokens, trace.completion_tokens, trace.total_cost,
    )  # fmt: skip
    return Contribution(trace_key(trace), measures, models or {})


def span_values(span: Span) -> tuple:
    """What of a span the rollup counts: (model, total, prompt and completion tokens, cost)."""
    return (span.model, span.total_tokens, span.prompt_tokens, span.completion_tokens, span.total_cost)


def model_totals(spans: Iterable[tuple]) -> dict[str, tuple]:
    """Per model, MODEL_MEASURES of spans given as `span_values`."""
    totals: dict[str, list] = {}
    for model, *values in spans:
        if model:  # None and "" are no model, as the analytics' `exclude`s say
            row = totals.setdefault(model, [0] * len(MODEL_MEASURES))
            _accumulate(row, (1, *values), 1)
    return {model: tuple(row) for model, row in totals.items()}


def stored_model_totals(trace_id) -> dict[str, tuple]:
    """`model_totals` of the trace's stored spans, summed by the database."""
    rows = _model_sums(Span.objects.filter(trace_id=trace_id)).values_list("model", *MODEL_MEASURES)
    return {model: tuple(values) for model, *values in rows}


class RollupDelta:
    """Differences per rollup row ((hour, environment, model): MEASURES), applied in one statement."""

    def __init__(self) -> None:
        self.rows: dict[tuple, list] = defaultdict(lambda: [0] * len(MEASURES))

    def add(self, contribution: Contribution | None, sign: int = 1) -> "RollupDelta":
        if contribution is None:
            return self
        if contribution.trace is not None:
            _accumulate(self.rows[(*contribution.key, TRACES)], contribution.trace, sign)
        for model, values in contribution.models.items():
            _accumulate(self.rows[(*contribution.key, model)], (0, 0, 0, 0, *values), sign)
        return self

    def apply(self, project_id) -> None:
        """Add the differences to the project's rows; delete the rows left with nothing counted."""
        rows = {key: values for key, values in self.rows.items() if any(values)}
        if rows:
            _upsert(project_id, rows)
            _delete_emptied(project_id, rows)


def _accumulate(total: list, values: tuple, sign: int) -> None:
    for index, value in enumerate(values):
        total[index] += sign * value


def rollup_change(*, project_id, before: Contribution | None, after: Contribution | None) -> None:
    """Swap a trace's (or some of its spans') contribution `before` for `after` (None: nothing)."""
    RollupDelta().add(before, -1).add(after).apply(project_id)


def _upsert(project_id, rows: dict) -> None:
    """Add `rows` to the project's, in key order: two writers touching the same rows lock them in one
    order (no deadlock)."""
    project = TraceHourStats._meta.get_field("project").get_db_prep_save(project_id, connection)
    adapt_hour = connection.ops.adapt_datetimefield_value  # as the ORM writes `hour` (SQLite: text)
    params = []
    for key in sorted(rows):
        params += [project, adapt_hour(key[0]), *key[1:], *rows[key]]
    with connection.cursor() as cursor:
        cursor.execute(_upsert_sql(connection.vendor, len(rows)), params)


@functools.cache
def _upsert_sql(vendor: str, count: int) -> str:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET measure = measure + EXCLUDED.measure, `count` rows
    (PostgreSQL and SQLite 3.24+; the ORM's `update_conflicts` can only overwrite, not add)."""
    quote, table = connection.ops.quote_name, connection.ops.quote_name(TraceHourStats._meta.db_table)
    key = ["project_id", *KEY_FIELDS]
    row = "(" + ", ".join(["%s"] * (len(key) + len(MEASURES))) + ")"
    updates = ", ".join(f"{quote(m)} = {table}.{quote(m)} + EXCLUDED.{quote(m)}" for m in MEASURES)
    return (
        f"INSERT INTO {table} ({', '.join(map(quote, [*key, *MEASURES]))}) VALUES {', '.join([row] * count)} "
        f"ON CONFLICT ({', '.join(map(quote, key))}) DO UPDATE SET {updates}"
    )


TRACE_COUNT, CALL_COUNT = MEASURES.index("trace_count"), MEASURES.index("call_count")


def _delete_emptied(project_id, rows: dict) -> None:
    """Delete the rows among `rows` whose count a subtraction took to 0 (or below: a row that was
    never added, which only a write past the services can cause, is dropped, not kept negative)."""
    shrunk = [key for key, values in rows.items() if values[TRACE_COUNT] < 0 or values[CALL_COUNT] < 0]
    if shrunk:
        keys = Q()
        for key in shrunk:
            keys |= Q(**dict(zip(KEY_FIELDS, key, strict=True)))
        emptied = Q(trace_count__lte=0, call_count__lte=0)
        TraceHourStats.objects.filter(keys, emptied, project_id=project_id).delete()


# --- many traces at once: deletes and the rebuild ---------------------------------------------------


def _hour_key(prefix: str = "") -> dict:
    return {
        "hour": Trunc(f"{prefix}started_at", "hour", tzinfo=UTC),
        "env": Coalesce(f"{prefix}environment", Value("")),
    }


def _trace_sums(traces: QuerySet) -> QuerySet:
    """The MEASURES of `traces` per (project, hour, environment), summed by the database."""
    return (
        traces.values("project_id", **_hour_key())
        .annotate(
            trace_count=Count("pk"),
            error_count=Count("pk", filter=Q(status=TraceStatus.ERROR)),
            latency_count=Count("latency_ms"),
            latency_sum_ms=Sum("latency_ms", default=0.0),
            total_tokens=Sum("total_tokens", default=0),
            prompt_tokens=Sum("prompt_tokens", default=0),
            completion_tokens=Sum("completion_tokens", default=0),
            total_cost=Sum("total_cost", default=0.0),
        )
        .order_by()
    )


def _model_sums(spans: QuerySet) -> QuerySet:
    """MODEL_MEASURES of `spans` with a model per (project, hour, environment of their trace, model)."""
    return (
        spans.exclude(model__isnull=True)
        .exclude(model="")
        .values("model", project_id=F("trace__project_id"), **_hour_key("trace__"))
        .annotate(
            call_count=Count("pk"),
            total_tokens=Sum("total_tokens", default=0),
            prompt_tokens=Sum("prompt_tokens", default=0),
            completion_tokens=Sum("completion_tokens", default=0),
            total_cost=Sum("total_cost", default=0.0),
        )
        .order_by()
    )


def traces_removal(trace_ids: list) -> RollupDelta:
    """The difference deleting `trace_ids` (and their spans) makes: read before the delete, applied
    after it (the rows' locks are then held for the shortest time)."""
    delta = RollupDelta()
    for row in _trace_sums(Trace.objects.filter(pk__in=trace_ids)):
        values = tuple(row.get(m, 0) for m in MEASURES)  # no calls on the traces' row
        _accumulate(delta.rows[(row["hour"], row["env"], TRACES)], values, -1)
    for row in _model_sums(Span.objects.filter(trace_id__in=trace_ids)):
        values = (0, 0, 0, 0, *(row[m] for m in MODEL_MEASURES))
        _accumulate(delta.rows[(row["hour"], row["env"], row["model"])], values, -1)
    return delta


def _lock_rollup() -> None:
    """Make writers of the rollup wait until the rebuild commits, and the rebuild wait for those in
    flight: it then reads every trace they committed, and those that wait add their changes to its
    rows after it. SHARE ROW EXCLUSIVE conflicts with the writers' ROW EXCLUSIVE, not with readers.
    SQLite has one writer at a time anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            table = connection.ops.quote_name(TraceHourStats._meta.db_table)
            cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")


def trace_rollup_rebuild(*, project: Project | None = None) -> int:
    """Recompute the rollup of `project` (of every project when None) from its stored traces and
    spans, replacing what was there; returns the rows written. For writes that bypass the services
    (a SQL bulk load) and to check or repair the rollup. Writers of the rollup wait for it."""
    traces, spans = Trace.objects.all(), Span.objects.all()
    if project is not None:
        traces, spans = traces.filter(project=project), spans.filter(trace__project=project)
    with transaction.atomic():
        _lock_rollup()
        (
            TraceHourStats.objects.all()
            if project is None
            else TraceHourStats.objects.filter(project=project)
        ).delete()
        rows = [_row(row, TRACES) for row in _trace_sums(traces)]
        rows += [_row(row, row["model"]) for row in _model_sums(spans)]
        TraceHourStats.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def _row(row: dict, model: str) -> TraceHourStats:
    measures = {name: row[name] for name in MEASURES if name in row}
    return TraceHourStats(
        project_id=row["project_id"], hour=row["hour"], environment=row["env"], model=model, **measures
    )
