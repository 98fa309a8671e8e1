"""Aggregates of trace and session scores: summary, trend, distribution, a session's history and the
session leaderboard. Every query starts from a project's scores (another project's are never read).

What counts: every score is one observation at its created_at, so a trace judged twice counts twice
in the summary, the trend and the distribution (a re-evaluation is a new data point in time; the
guide's per-target "latest" applies to a score panel, `GET /trace-scores/{trace_id}`, and to the
session leaderboard below). Only SUCCESS scores with a numeric value (NUMERIC, and BOOLEAN as 1/0)
enter averages, medians and histograms; FAILED ones are counted in `failed_count`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC

from django.db.models import Avg, Count, F, Max, Min, Q, QuerySet
from django.db.models.functions import Trunc

from evaluations.models import ScoreConfig, ScoreStatus
from evaluations.selectors.scores import NEWEST_FIRST, latest_per_name, trace_scores_of
from evaluations.selectors.sessions import session_exists, session_scores_of
from evaluations.services.values import numeric_span
from pandaprobe.api.errors import require_valid, validate_all
from pandaprobe.api.pagination import page_params, paginate
from pandaprobe.errors import NotFound
from pandaprobe.traces.filters import ordered

from .. import filters as f
from ..functions import BucketIndex

COMPARISON_MAX_LIMIT, COMPARISON_DEFAULT_LIMIT = 100, 20
# The scores whose value enters a statistic.
MEASURED = Q(status=ScoreStatus.SUCCESS, numeric_value__isnull=False)


def _filtered(filterset_class, queryset: QuerySet, params, *forms) -> tuple[QuerySet, dict, list]:
    """The filtered scores, the filters' cleaned values and the validated option forms; one 422 names
    every bad parameter."""
    filterset, *forms = validate_all(
        lambda: require_valid(filterset_class(params, queryset=queryset)),
        *(lambda form=form: require_valid(form(params)) for form in forms),
    )
    return filterset.qs, filterset.form.cleaned_data, forms


def _summary(scores: QuerySet) -> list[dict]:
    rows = (
        scores.values(metric_name=F("name"))
        .annotate(
            avg_score=Avg("numeric_value", filter=MEASURED),
            min_score=Min("numeric_value", filter=MEASURED),
            max_score=Max("numeric_value", filter=MEASURED),
            measured_count=Count("pk", filter=MEASURED),
            success_count=Count("pk", filter=Q(status=ScoreStatus.SUCCESS)),
            failed_count=Count("pk", filter=Q(status=ScoreStatus.FAILED)),
            latest_score_at=Max("created_at"),
        )
        .order_by("metric_name")
    )
    return [{**row, "median_score": _median(scores, row)} for row in rows]


def _median(scores: QuerySet, row: dict) -> float | None:
    """A metric's median (the mean of the two middle values of an even count), interpolated as
    PostgreSQL's `percentile_cont(0.5)` does. One query per metric reads only the middle of its
    `<prefix>_project_value` index: `percentile_cont` sorted a million values in 2-11 s."""
    count = row.pop("measured_count")
    if not count:
        return None
    measured = scores.filter(MEASURED, name=row["metric_name"]).order_by("numeric_value")
    middle = list(measured.values_list("numeric_value", flat=True)[(count - 1) // 2 : count // 2 + 1])
    if not middle:  # scores deleted since they were counted
        return None
    return middle[0] + (middle[-1] - middle[0]) * 0.5


def _trend(scores: QuerySet, *, metric_name: str, granularity: str) -> list[dict]:
    """Average and count per UTC hour, day or ISO week (weeks start on Monday); empty buckets are
    left out (they have no average)."""
    rows = (
        scores.filter(MEASURED)
        .annotate(bucket=Trunc("created_at", granularity, tzinfo=UTC))
        .values("bucket")
        .annotate(avg_score=Avg("numeric_value"), count=Count("pk"))
        .order_by("bucket")
    )
    return [{**row, "metric_name": metric_name} for row in rows]


def value_span(*, project, metric_name: str) -> tuple[float, float]:
    """The scale of a metric: its score config's (`numeric_span`), else 0-1."""
    config = ScoreConfig.objects.filter(project=project, name=metric_name).first()
    low, high = numeric_span(config)
    return (low, high) if high > low else (low, low + 1.0)


def _distribution(scores: QuerySet, *, span: tuple[float, float], buckets: int) -> list[dict]:
    """Every bucket, empty ones with count 0; the last one holds the top of the scale."""
    low, high = span
    counts = dict(
        scores.filter(MEASURED)
        .annotate(bucket=BucketIndex("numeric_value", low=low, high=high, buckets=buckets))
        .values("bucket")
        .annotate(count=Count("pk"))
        .values_list("bucket", "count")
        .order_by()
    )
    edges = [low + (high - low) * i / buckets for i in range(buckets)] + [high]
    return [
        {"bucket": i + 1, "bucket_min": edges[i], "bucket_max": edges[i + 1], "count": counts.get(i + 1, 0)}
        for i in range(buckets)
    ]


@dataclass(frozen=True)
class ScoreKind:
    """Trace or session scores: where they come from and what filters them."""

    scores_of: Callable[..., QuerySet]
    summary_filter: type
    metric_filter: type


TRACE_SCORES = ScoreKind(trace_scores_of, f.TraceScoreAnalyticsFilter, f.TraceMetricFilter)
SESSION_SCORES = ScoreKind(session_scores_of, f.SessionScoreAnalyticsFilter, f.SessionMetricFilter)


def score_summary(*, kind: ScoreKind, project, params) -> list[dict]:
    """Per metric: avg, min, max, median, success and failed counts, latest score time."""
    scores, _, _ = _filtered(kind.summary_filter, kind.scores_of(project), params)
    return _summary(scores)


def score_trend(*, kind: ScoreKind, project, params) -> list[dict]:
    scores, cleaned, (options,) = _filtered(
        kind.metric_filter, kind.scores_of(project), params, f.TrendParams
    )
    return _trend(scores, metric_name=cleaned["metric_name"], granularity=f.option(options, "granularity"))


def score_distribution(*, kind: ScoreKind, project, params) -> list[dict]:
    scores, cleaned, (options,) = _filtered(
        kind.metric_filter, kind.scores_of(project), params, f.DistributionParams
    )
    span = value_span(project=project, metric_name=cleaned["metric_name"])
    return _distribution(scores, span=span, buckets=f.option(options, "buckets"))


# Session scores only ---------------------------------------------------------------------------


def session_score_history(*, project, session_id: str, params) -> list:
    """A session's scores (every re-evaluation, FAILED ones too), the newest `limit`, oldest first;
    404 when the project knows nothing of the session."""
    scores = session_scores_of(project).filter(session_id=session_id)
    scores, _, (options,) = _filtered(f.SessionHistoryFilter, scores, params, f.HistoryParams)
    newest = list(scores.order_by(*NEWEST_FIRST)[: f.option(options, "limit")])
    if not newest and not session_exists(project=project, session_id=session_id):
        raise NotFound("Session not found")
    return newest[::-1]


def session_score_comparison(*, project, params) -> dict:
    """A page of each session's latest score of a metric (newest created_at, then higher id; a FAILED
    one has no value and ranks last either way), ranked by value; ties by session id."""
    (limit, offset), (scores, _, (options,)) = validate_all(
        lambda: page_params(params, max_limit=COMPARISON_MAX_LIMIT, default_limit=COMPARISON_DEFAULT_LIMIT),
        lambda: _filtered(f.SessionComparisonFilter, session_scores_of(project), params, f.ComparisonParams),
    )
    latest = latest_per_name(scores, partition=[F("session_id")])
    ranked = ordered(latest, "numeric_value", f.option(options, "sort_order"), tiebreak="session_id")
    return paginate(ranked, limit=limit, offset=offset)
