"""Aggregates of trace and session scores: summary, trend, distribution, a session's history and the
session leaderboard. Every query starts from a project's scores (another project's are never read).

What counts: every score is one observation at its created_at, so a trace judged twice counts twice
in the summary, the trend and the distribution (a re-evaluation is a new data point in time; the
guide's per-target "latest" applies to a score panel, `GET /trace-scores/{trace_id}`, and to the
session leaderboard below). Only SUCCESS scores with a numeric value (NUMERIC, and BOOLEAN as 1/0)
enter averages, medians and histograms; FAILED ones are counted in `failed_count`.

Where they are read from: the summary's counts, sums, min, max and latest, and the trend, add up the
hourly rollups the score services keep (`ScoreRollup`), plus the scores of the part-hours at either
end of a date range; an `environment` filter (the trace's current one, which the rollups do not
know) reads the scores. The median reads the middle of the `<prefix>_project_value` index; the
histogram counts the entries of an index of measured values (an index-only scan: buckets of a rollup
would be exact for one bucket count only). Both paths answer alike (tests/analytics/test_rollup_paths.py).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Avg, Count, F, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import Trunc

from evaluations.models import ScoreConfig, ScoreEvent, ScoreRollup, ScoreStatus
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
# What a leaderboard row shows and ranks by: all in `sscore_session_name`, read without the table.
COMPARISON_FIELDS = ("session_id", "name", "numeric_value", "created_at", "eval_run")
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


# What a group of scores adds up to, from the scores or from rollup rows; "measured" enter averages.
TOTALS = {
    "measured_count": Count("numeric_value", filter=MEASURED),
    "value_sum": Sum("numeric_value", filter=MEASURED),
    "min_score": Min("numeric_value", filter=MEASURED),
    "max_score": Max("numeric_value", filter=MEASURED),
    "success_count": Count("status", filter=Q(status=ScoreStatus.SUCCESS)),
    "failed_count": Count("status", filter=Q(status=ScoreStatus.FAILED)),
    "latest_score_at": Max("created_at"),
}
ROLLUP_TOTALS = {
    "measured_count": Sum("measured_count"),
    "value_sum": Sum("value_sum"),
    "min_score": Min("value_min"),
    "max_score": Max("value_max"),
    "success_count": Sum("success_count"),
    "failed_count": Sum("failed_count"),
    "latest_score_at": Max("latest_score_at"),
}
ADDED, LOWEST, HIGHEST = ("measured_count", "value_sum", "success_count", "failed_count"), ("min_score",), (
    "max_score", "latest_score_at")  # fmt: skip
HOUR = timedelta(hours=1)


def _merged(parts: list[dict]) -> dict:
    """The totals of groups of scores taken together (None: a part had no such value)."""

    def pick(chooser, values):
        present = [value for value in values if value is not None]
        return chooser(present) if present else None

    merged = {field: sum(part[field] or 0 for part in parts) for field in ADDED}
    merged.update({field: pick(min, [part[field] for part in parts]) for field in LOWEST})
    merged.update({field: pick(max, [part[field] for part in parts]) for field in HIGHEST})
    return merged


@dataclass(frozen=True)
class Rolled:
    """Filtered scores split in two: whole UTC hours, read from the rollups (`rows`), and the scores
    of part-hours at the ends of the date range (`edges`, None when there are none)."""

    rows: QuerySet
    edges: QuerySet | None

    def totals(self, group: str) -> dict:
        """{group: totals}, grouped by a field or annotation both sides have (the name, a bucket)."""
        parts: dict = {}
        for row in self.rows.values(group).annotate(**ROLLUP_TOTALS).order_by():
            parts.setdefault(row.pop(group), []).append(row)
        if self.edges is not None:
            for row in self.edges.values(group).annotate(**TOTALS).order_by():
                parts.setdefault(row.pop(group), []).append(row)
        return {key: _merged(rows) for key, rows in parts.items()}

    def bucketed(self, granularity: str) -> "Rolled":
        """Both sides with a `bucket`: the UTC hour, day or week of their hour or created_at."""
        edges = self.edges
        if edges is not None:
            edges = edges.annotate(bucket=Trunc("created_at", granularity, tzinfo=UTC))
        return Rolled(rows=self.rows.annotate(bucket=Trunc("hour", granularity, tzinfo=UTC)), edges=edges)


def _hour_ceiling(moment: datetime) -> datetime:
    hour = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return hour if hour == moment else hour + HOUR


def _rolled(kind: "ScoreKind", project, scores: QuerySet, cleaned: dict) -> Rolled | None:
    """The rollup side of filtered `scores`, or None when the rollups cannot answer: an environment
    filter, or a range within one hour (its scores are few: read them)."""
    if cleaned.get("environment"):
        return None
    start, end = cleaned.get("date_from"), cleaned.get("date_to")
    first = _hour_ceiling(start) if start else None
    stop = end.astimezone(UTC).replace(minute=0, second=0, microsecond=0) if end else None
    if first and stop and first >= stop:
        return None
    rows = ScoreRollup.objects.filter(project=project, target=kind.target, score_count__gt=0)
    if cleaned.get("metric_name"):
        rows = rows.filter(name=cleaned["metric_name"])
    if cleaned.get("source"):
        rows = rows.filter(source=cleaned["source"])
    outside = Q()
    if first:
        rows, outside = rows.filter(hour__gte=first), outside | Q(created_at__lt=first)
    if stop:
        rows, outside = rows.filter(hour__lt=stop), outside | Q(created_at__gte=stop)
    edges = scores.filter(outside) if (start and start < first) or (end and stop < end) else None
    return Rolled(rows=rows, edges=edges)


def _summary_row(name: str, totals: dict) -> dict:
    measured, value_sum = totals.pop("measured_count"), totals.pop("value_sum")
    avg = value_sum / measured if measured else None
    return {"metric_name": name, "avg_score": avg, **totals, "measured_count": measured}


def _summary(scores: QuerySet, rolled: Rolled | None) -> list[dict]:
    if rolled is None:
        totals = {row.pop("name"): row for row in scores.values("name").annotate(**TOTALS).order_by()}
    else:
        totals = rolled.totals("name")
    rows = [_summary_row(name, totals[name]) for name in sorted(totals)]
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


def _trend(scores: QuerySet, rolled: Rolled | None, *, metric_name: str, granularity: str) -> list[dict]:
    """Average and count per UTC hour, day or ISO week (weeks start on Monday); empty buckets are
    left out (they have no average)."""
    if rolled is None:
        rows = (
            scores.filter(MEASURED)
            .annotate(bucket=Trunc("created_at", granularity, tzinfo=UTC))
            .values("bucket")
            .annotate(avg_score=Avg("numeric_value"), count=Count("numeric_value"))
            .order_by("bucket")
        )
        return [{**row, "metric_name": metric_name} for row in rows]
    totals = rolled.bucketed(granularity).totals("bucket")
    return [
        {"bucket": bucket, "avg_score": row["value_sum"] / row["measured_count"], "count": row["measured_count"],
         "metric_name": metric_name}
        for bucket, row in sorted(totals.items()) if row["measured_count"]
    ]  # fmt: skip


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
        .annotate(count=Count("numeric_value"))  # not `pk`: an index-only scan of `<prefix>_project_value`
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
    target: str  # of their rollups


TRACE_SCORES = ScoreKind(
    trace_scores_of, f.TraceScoreAnalyticsFilter, f.TraceMetricFilter, ScoreEvent.Target.TRACE
)
SESSION_SCORES = ScoreKind(
    session_scores_of, f.SessionScoreAnalyticsFilter, f.SessionMetricFilter, ScoreEvent.Target.SESSION
)


def score_summary(*, kind: ScoreKind, project, params, rollups: bool = True) -> list[dict]:
    """Per metric: avg, min, max, median, success and failed counts, latest score time. `rollups`
    False reads every score (what the rollup path is tested against)."""
    scores, cleaned, _ = _filtered(kind.summary_filter, kind.scores_of(project), params)
    return _summary(scores, _rolled(kind, project, scores, cleaned) if rollups else None)


def score_trend(*, kind: ScoreKind, project, params, rollups: bool = True) -> list[dict]:
    scores, cleaned, (options,) = _filtered(
        kind.metric_filter, kind.scores_of(project), params, f.TrendParams
    )
    rolled = _rolled(kind, project, scores, cleaned) if rollups else None
    return _trend(
        scores, rolled, metric_name=cleaned["metric_name"], granularity=f.option(options, "granularity")
    )


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
    latest = latest_per_name(scores.only(*COMPARISON_FIELDS), partition=[F("session_id")])
    ranked = ordered(latest, "numeric_value", f.option(options, "sort_order"), tiebreak="session_id")
    # One latest score per session: the total is the number of sessions, counted without ranking.
    sessions = scores.order_by().values("session_id").distinct().count()
    return paginate(ranked, limit=limit, offset=offset, total=sessions)
