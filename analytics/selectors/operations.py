"""Operations analytics: trace volume, errors, latency, cost, tokens and models per time bucket,
sessions per bucket, and the project's end users. Every figure is computed by the database
(`date_trunc`, `percentile_cont`); the window and filters are `AnalyticsTraceFilter`'s."""

from datetime import UTC, datetime

from django.db import connection
from django.db.models import Aggregate, Avg, Count, F, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, Trunc
from django.utils.dateparse import parse_datetime

from pandaprobe.api.errors import require_valid, validate_all
from pandaprobe.traces.models import Span, TraceStatus
from pandaprobe.traces.selectors import traces_of

from ..functions import EpochMs, PercentileCont
from ..operations_filters import AnalyticsTraceFilter, GranularityParams, TraceAnalyticsParams

# `models` ranks the models of the window's spans by calls and answers this many.
TOP_MODELS = 10
PERCENTILES = {"p50_latency_ms": 0.5, "p90_latency_ms": 0.9, "p99_latency_ms": 0.99}


def _window(project, params) -> QuerySet:
    return require_valid(AnalyticsTraceFilter(params, queryset=traces_of(project))).qs


def _options(form_class, params) -> dict:
    options = require_valid(form_class(params)).cleaned_data
    return {name: value or form_class.base_fields[name].initial for name, value in options.items()}


def _checked(project, params, form_class) -> tuple[QuerySet, dict]:
    """The window's traces and the options, or one 422 naming every bad parameter."""
    traces, options = validate_all(lambda: _window(project, params), lambda: _options(form_class, params))
    return traces, options


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


def _top_models(traces: QuerySet) -> list[dict]:
    spans = Span.objects.filter(trace__in=traces.values("pk")).exclude(model__isnull=True).exclude(model="")
    rows = (
        spans.values("model")
        .annotate(
            call_count=Count("pk"),
            total_tokens=Sum("total_tokens", default=0),
            total_cost=Sum("total_cost", default=0.0),
        )
        .order_by("-call_count", "model")
    )
    return list(rows[:TOP_MODELS])


def trace_analytics(*, project, params) -> tuple[str, list[dict]]:
    """`/traces/analytics`: the metric asked for, and one row per non-empty bucket (oldest first) of
    its figures, or for `models` the most called models of the window."""
    traces, options = _checked(project, params, TraceAnalyticsParams)
    metric = options["metric"]
    if metric == "models":
        return metric, _top_models(traces)
    buckets = traces.annotate(bucket=_bucket("started_at", options["granularity"])).values("bucket")
    return metric, list(SERIES[metric](buckets.order_by()).order_by("bucket"))


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
    traces, options = _checked(project, params, GranularityParams)
    inner, inner_params = _session_rows(traces, options["granularity"]).query.sql_with_params()
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
