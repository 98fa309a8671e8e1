"""What the analytics page shows, read through the same selectors as the API (one project's data)."""

from dataclasses import dataclass
from datetime import datetime

from .agreement import trace_score_agreement
from .operations import trace_analytics
from .scores import (
    SESSION_SCORES,
    TRACE_SCORES,
    score_distribution,
    score_summary,
    score_trend,
    session_score_comparison,
)

WORST_SESSIONS = 10


@dataclass(frozen=True)
class PageWindow:
    start: datetime
    end: datetime
    granularity: str


@dataclass
class AnalyticsPageData:
    summary: list[dict]
    metric: str | None
    trend: list[dict]
    distribution: list[dict]
    agreement: dict | None
    session_metric: str | None
    worst_sessions: list
    operations: list[dict]
    costs: list[dict]


def _score_range(window: PageWindow) -> dict:
    return {"date_from": window.start.isoformat(), "date_to": window.end.isoformat()}


def _trace_window(window: PageWindow) -> dict:
    return {
        "started_after": window.start.isoformat(),
        "started_before": window.end.isoformat(),
        "granularity": window.granularity,
    }


def _metric_sections(project, window: PageWindow, metric: str) -> dict:
    params = {**_score_range(window), "metric_name": metric}
    return {
        "trend": score_trend(
            kind=TRACE_SCORES, project=project, params={**params, "granularity": window.granularity}
        ),
        "distribution": score_distribution(kind=TRACE_SCORES, project=project, params=params),
        "agreement": trace_score_agreement(project=project, params=params),
    }


def _worst_sessions(project, window: PageWindow, metric: str | None) -> tuple[str | None, list]:
    """The lowest latest session scores of the chosen metric, else of the first session metric."""
    names = [
        row["metric_name"]
        for row in score_summary(kind=SESSION_SCORES, project=project, params=_score_range(window))
    ]
    name = metric if metric in names else next(iter(names), None)
    if name is None:
        return None, []
    params = {"metric_name": name, "sort_order": "asc", "limit": str(WORST_SESSIONS)}
    return name, session_score_comparison(project=project, params=params)["items"]


def analytics_page_data(*, project, window: PageWindow, metric: str | None) -> AnalyticsPageData:
    """Every section of the page; the metric defaults to the first the summary lists. A bad
    parameter raises the selectors' `RequestValidationError` (a Django ValidationError)."""
    summary = score_summary(kind=TRACE_SCORES, project=project, params=_score_range(window))
    metric = metric or next((row["metric_name"] for row in summary), None)
    sections = (
        _metric_sections(project, window, metric)
        if metric
        else {"trend": [], "distribution": [], "agreement": None}
    )
    session_metric, worst = _worst_sessions(project, window, metric)
    _, operations = trace_analytics(project=project, params={**_trace_window(window), "metric": "latency"})
    _, costs = trace_analytics(project=project, params={**_trace_window(window), "metric": "cost"})
    return AnalyticsPageData(
        summary=summary, metric=metric, session_metric=session_metric, worst_sessions=worst,
        operations=operations, costs=costs, **sections,
    )  # fmt: skip
