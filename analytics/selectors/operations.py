"""Operations analytics: trace volume, errors, latency, cost, tokens and models per time bucket,
sessions per bucket, and the project's end users. Every figure is computed by the database
(`date_trunc`, `percentile_cont`); the window and filters are `AnalyticsTraceFilter`'s.

`/traces/analytics` reads the traces' hourly rollup (`TraceHourStats`, kept by
the trace services) for the whole UTC hours of its window, and the traces themselves for the parts
of an hour at its ends, unless it filters on what the rollup does not keep (`user_id`, `tags`): over
1,000,000 traces a month by day went from summing every trace to summing 720 rows
(benchmarks/bench_ops_analytics.py). Counts and tokens are the same either way; cost and average
latency are float sums, equal up to rounding. Percentiles cannot be summed: they are always
`percentile_cont` over the window's traces, read from the `trace_project_started` index alone."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, connections, transaction
from django.db.models import Aggregate, Avg, Count, F, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, Trunc
from django.utils.dateparse import parse_datetime

from pandaprobe.api.errors import require_valid, validate_all
from pandaprobe.traces.models import Span, TraceHourStats, TraceStatus
from pandaprobe.traces.rollup import TRACES, hour_of
from pandaprobe.traces.selectors import traces_of

from ..functions import EpochMs, PercentileCont
from ..operations_filters import AnalyticsTraceFilter, GranularityParams, TraceAnalyticsParams

# `models` ranks the models of the window's spans by calls and answers this many.
TOP_MODELS = 10
PERCENTILES = {"p50_latency_ms": 0.5, "p90_latency_ms": 0.9, "p99_latency_ms": 0.99}


def _window(project, params) -> AnalyticsTraceFilter:
    return require_valid(AnalyticsTraceFilter(params, queryset=traces_of(project)))


def _options(form_class, params) -> dict:
    options = require_valid(form_class(params)).cleaned_data
    return {name: value or form_class.base_fields[name].initial for name, value in options.items()}


def _checked(project, params, form_class) -> tuple[AnalyticsTraceFilter, dict]:
    """The window (its traces are `.qs`) and the options, or one 422 naming every bad parameter."""
    window, options = validate_all(lambda: _window(project, params), lambda: _options(form_class, params))
    return window, options


def _bucket(field: str | Aggregate, granularity: str) -> Trunc:
    # In UTC whatever the server's zone: bucket edges are the same for every client.
    return Trunc(field, granularity, tzinfo=UTC)


def _as_utc(value) -> datetime:
    """A bucket start read from raw SQL: PostgreSQL gives an aware datetime, SQLite UTC text."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _volume(buckets: QuerySet) -> QuerySet:
    return buckets.annotate(
        trace_count=Count("pk"), error_count=Count("pk", filter=Q(status=TraceStatus.ERROR))
    )


def _latency(buckets: QuerySet) -> QuerySet:
    stats = {name: PercentileCont("latency_ms", fraction) for name, fraction in PERCENTILES.items()}
    return _volume(buckets).annotate(avg_latency_ms=Avg("latency_ms"), **stats)


def _tokens(buckets: QuerySet) -> QuerySet:
    # From the traces' totals of their spans (kept by ingestion), so no span is read.
    return buckets.annotate(
        total_tokens=Sum("total_tokens", default=0),
        prompt_tokens=Sum("prompt_tokens", default=0),
        completion_tokens=Sum("completion_tokens", default=0),
        total_cost=Sum("total_cost", default=0.0),
    )


SERIES = {"volume": _volume, "errors": _volume, "latency": _latency, "cost": _tokens, "tokens": _tokens}


def _model_calls(spans: QuerySet) -> QuerySet:
    """Calls, tokens and cost per model of `spans` (those without a model left out)."""
    return (
        spans.exclude(model__isnull=True)
        .exclude(model="")
        .values("model")
        .annotate(
            call_count=Count("pk"),
            total_tokens=Sum("total_tokens", default=0),
            total_cost=Sum("total_cost", default=0.0),
        )
    )


def _top_models(traces: QuerySet) -> list[dict]:
    rows = _model_calls(Span.objects.filter(trace__in=traces.values("pk"))).order_by("-call_count", "model")
    return list(rows[:TOP_MODELS])


def trace_analytics(*, project, params, rollup: bool = True) -> tuple[str, list[dict]]:
    """`/traces/analytics`: the metric asked for, and one row per non-empty bucket (oldest first) of
    its figures, or for `models` the most called models of the window. `rollup=False` reads only the
    traces (what the rollup must agree with)."""
    window, options = _checked(project, params, TraceAnalyticsParams)
    metric, granularity = options["metric"], options["granularity"]
    split = _rollup_split(project, window) if rollup else None
    if split is not None:
        if metric == "models":
            return metric, _top_models_rolled_up(split)
        return metric, _series_rolled_up(split, window.qs, metric, granularity)
    traces = window.qs
    if metric == "models":
        return metric, _top_models(traces)
    buckets = traces.annotate(bucket=_bucket("started_at", granularity)).values("bucket")
    return metric, list(SERIES[metric](buckets.order_by()).order_by("bucket"))


# From the rollup ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollupSplit:
    """A window cut at UTC hours: the rollup's rows of its whole hours, and the traces of the parts
    of an hour before and after them (each a short index range)."""

    hours: QuerySet  # TraceHourStats of the traces
    model_hours: QuerySet  # TraceHourStats of the models
    edges: list[QuerySet]  # Trace


def _rollup_split(project, window: AnalyticsTraceFilter) -> RollupSplit | None:
    """How to answer `window` from the rollup; None when it filters on what the rollup does not keep."""
    cleaned = window.form.cleaned_data
    if cleaned.get("user_id") or cleaned.get("tags"):
        return None
    start, end = cleaned["started_after"], cleaned["started_before"]
    first = hour_of(start) if hour_of(start) == start else hour_of(start) + timedelta(hours=1)
    last = hour_of(end)
    if first >= last:  # no whole hour inside: under two hours of traces
        first = last = end
    scope = {"project": project, "hour__gte": first, "hour__lt": last}
    if cleaned.get("environment"):
        scope["environment"] = cleaned["environment"]  # a trace without one is "" there, never asked for
    traces = window.qs
    edges = [traces.filter(started_at__lt=first)] if start < first else []
    edges += [traces.filter(started_at__gte=last)] if last < end else []
    rows = TraceHourStats.objects.filter(**scope)
    return RollupSplit(rows.filter(model=TRACES), rows.exclude(model=TRACES), edges)


# What both sources sum per bucket: the rollup's columns, and the same from the traces.
ROLLED_UP_SUMS = (
    "trace_count", "error_count", "latency_count", "latency_sum_ms",
    "total_tokens", "prompt_tokens", "completion_tokens", "total_cost",
)  # fmt: skip
TRACE_SUMS = {
    "trace_count": Count("pk"),
    "error_count": Count("pk", filter=Q(status=TraceStatus.ERROR)),
    "latency_count": Count("latency_ms"),
    "latency_sum_ms": Sum("latency_ms", default=0.0),
    "total_tokens": Sum("total_tokens", default=0),
    "prompt_tokens": Sum("prompt_tokens", default=0),
    "completion_tokens": Sum("completion_tokens", default=0),
    "total_cost": Sum("total_cost", default=0.0),
}


def _bucket_sums(split: RollupSplit, granularity: str) -> dict[datetime, dict]:
    """ROLLED_UP_SUMS per bucket: the whole hours' rows and the edges' traces added up."""
    parts = [
        split.hours.values(bucket=_bucket("hour", granularity)).annotate(
            **{name: Sum(name) for name in ROLLED_UP_SUMS}
        ),
        *(
            edge.values(bucket=_bucket("started_at", granularity)).annotate(**TRACE_SUMS)
            for edge in split.edges
        ),
    ]
    buckets: dict[datetime, dict] = {}
    for part in parts:
        for row in part.order_by():
            total = buckets.setdefault(row["bucket"], dict.fromkeys(ROLLED_UP_SUMS, 0))
            for name in ROLLED_UP_SUMS:
                total[name] += row[name]
    return dict(sorted(buckets.items()))


BUCKET_SPANS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


def _percentiles(traces: QuerySet, buckets: list[datetime], granularity: str) -> dict[datetime, dict]:
    """p50/p90/p99 latency per bucket of `traces` (those of `buckets` that have latencies), exact:
    `percentile_cont` over every latency of the bucket."""
    latencies = traces.filter(latency_ms__isnull=False)
    if not buckets:
        return {}
    if connections[traces.db].vendor != "postgresql":
        stats = {name: PercentileCont("latency_ms", fraction) for name, fraction in PERCENTILES.items()}
        rows = latencies.values(bucket=_bucket("started_at", granularity)).annotate(**stats).order_by()
        return {row["bucket"]: row for row in rows}
    # One index-only range scan and one sort per bucket. A GROUP BY of `date_trunc` sorts the whole
    # window first (the planner does not know the buckets follow `started_at`), on disk past work_mem,
    # then each bucket again inside `percentile_cont`: for a month by day over 1,000,000 traces
    # (benchmarks/bench_ops_analytics.py) 475 ms of PostgreSQL CPU plus temporary files, against 170.
    inner, inner_params = latencies.values("started_at", "latency_ms").order_by().query.sql_with_params()
    sql = (
        "SELECT b.bucket, p.cuts FROM unnest(%s::timestamptz[]) AS b(bucket) CROSS JOIN LATERAL ("
        "SELECT percentile_cont(%s::float8[]) WITHIN GROUP (ORDER BY w.latency_ms) AS cuts "
        f"FROM ({inner}) AS w WHERE w.started_at >= b.bucket AND w.started_at < b.bucket + %s) AS p"
    )
    params = [buckets, list(PERCENTILES.values()), *inner_params, BUCKET_SPANS[granularity]]
    with transaction.atomic(using=traces.db), connections[traces.db].cursor() as cursor:
        # The planner prices each bucket at a guess (5,000 rows); 720 hours pass JIT's threshold, and
        # compiling cost 17 ms of 170 (a month by hour at 1,000,000 traces) for a plan this simple.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        return {bucket: dict(zip(PERCENTILES, cuts, strict=True)) for bucket, cuts in cursor.fetchall()}


def _series_rolled_up(split: RollupSplit, traces: QuerySet, metric: str, granularity: str) -> list[dict]:
    """The rows `SERIES[metric]` gives from the traces, from the rollup (and the traces' percentiles)."""
    sums = _bucket_sums(split, granularity)
    if metric in ("cost", "tokens"):
        fields = ("total_tokens", "prompt_tokens", "completion_tokens", "total_cost")
        return [{"bucket": bucket, **{f: total[f] for f in fields}} for bucket, total in sums.items()]
    rows = [
        {"bucket": bucket, "trace_count": total["trace_count"], "error_count": total["error_count"]}
        for bucket, total in sums.items()
    ]
    if metric == "latency":
        timed = [bucket for bucket, total in sums.items() if total["latency_count"]]
        percentiles = _percentiles(traces, timed, granularity)
        for row in rows:
            total, found = sums[row["bucket"]], percentiles.get(row["bucket"], {})
            count = total["latency_count"]
            row["avg_latency_ms"] = total["latency_sum_ms"] / count if count else None
            row.update({name: found.get(name) for name in PERCENTILES})
    return rows


def _top_models_rolled_up(split: RollupSplit) -> list[dict]:
    """`_top_models` from the rollup's whole hours and the edges' spans."""
    sums = {
        "call_count": Sum("call_count"),
        "total_tokens": Sum("total_tokens"),
        "total_cost": Sum("total_cost"),
    }
    parts = [split.model_hours.values("model").annotate(**sums)]
    parts += [_model_calls(Span.objects.filter(trace__in=edge.values("pk"))) for edge in split.edges]
    models: dict[str, dict] = {}
    for part in parts:
        for row in part.order_by():
            total = models.setdefault(row["model"], {"model": row["model"], **dict.fromkeys(sums, 0)})
            for name in sums:
                total[name] += row[name]
    # The order `_top_models` asks the database for; names compare by code point, as the C collation
    # and SQLite do.
    return sorted(models.values(), key=lambda row: (-row["call_count"], row["model"]))[:TOP_MODELS]


def _session_rows(traces: QuerySet, granularity: str) -> QuerySet:
    """One row per session of the window: its bucket (by its first trace), traces and duration."""
    return (
        traces.filter(session_id__isnull=False)
        .values("session_id")
        .annotate(
            bucket=_bucket(Min("started_at"), granularity),
            trace_count=Count("pk"),
            duration_ms=EpochMs(Max(Coalesce("ended_at", "started_at"))) - EpochMs(Min("started_at")),
        )
        .order_by()
    )


def session_analytics(*, project, params) -> list[dict]:
    """`/sessions/analytics`: sessions per bucket of their first trace in the window, with their
    average trace count and duration (first start to last end, over the window's traces)."""
    window, options = _checked(project, params, GranularityParams)
    inner, inner_params = _session_rows(window.qs, options["granularity"]).query.sql_with_params()
    sql = (
        "SELECT bucket, COUNT(*), AVG(trace_count), AVG(duration_ms) "
        f"FROM ({inner}) AS sessions GROUP BY bucket ORDER BY bucket"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, inner_params)
        rows = cursor.fetchall()
    return [
        {
            "bucket": _as_utc(bucket),
            "session_count": count,
            "avg_traces_per_session": float(traces_avg),
            "avg_session_duration_ms": float(duration),
        }
        for bucket, count, traces_avg, duration in rows
    ]


def trace_users(*, project) -> QuerySet:
    """`/traces/users`: the project's end users (`user_id`), most recently seen first."""
    return (
        traces_of(project)
        .filter(user_id__isnull=False)
        .values("user_id")
        .annotate(
            trace_count=Count("pk"),
            first_seen=Min("started_at"),
            last_seen=Max(Coalesce("ended_at", "started_at")),
            error_count=Count("pk", filter=Q(status=TraceStatus.ERROR)),
            total_tokens=Sum("total_tokens", default=0),
            total_cost=Sum("total_cost", default=0.0),
        )
        .order_by(F("last_seen").desc(), "user_id")
    )
