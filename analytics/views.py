"""The analytics page (/app/p/<project id>/analytics/): a thin adapter from the range picker to the
selectors, with charts rendered on the server as SVG (`analytics/charts.py`)."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from evaluations.views.pages import error_messages
from pandaprobe.projects.access import browser_access

from . import charts
from .forms import DEFAULT_PRESET, PRESET_LABELS, AnalyticsRangeForm, granularity_for
from .selectors.page import AnalyticsPageData, PageWindow, analytics_page_data

BUCKET_FORMAT = {"hour": "%m-%d %H:00", "day": "%Y-%m-%d", "week": "%Y-%m-%d"}


def _charts(data: AnalyticsPageData, granularity: str) -> dict:
    """The SVG of each chart, from the selectors' rows."""
    label = BUCKET_FORMAT[granularity]

    def points(rows: list[dict], field: str) -> list[charts.Point]:
        return [(row["bucket"].strftime(label), float(row[field] or 0)) for row in rows]

    ops = data.operations
    histogram = [
        (f"{row['bucket_min']:.3g}–{row['bucket_max']:.3g}", row["count"]) for row in data.distribution
    ]
    return {
        "trend": charts.line_chart(
            points(data.trend, "avg_score"), title=f"Average {data.metric} per {granularity}"
        ),
        "histogram": charts.bar_chart(histogram, title=f"Distribution of {data.metric}"),
        "volume": charts.bar_chart(points(ops, "trace_count"), title=f"Traces per {granularity}"),
        "errors": charts.bar_chart(points(ops, "error_count"), title=f"Errors per {granularity}"),
        "latency": charts.line_chart(
            points(ops, "p50_latency_ms"),
            points(ops, "p90_latency_ms"),
            points(ops, "p99_latency_ms"),
            title="Latency p50 / p90 / p99 (ms)",
        ),
        "cost": charts.bar_chart(points(data.costs, "total_cost"), title=f"Cost per {granularity}"),
    }


@login_required
def analytics_page(request: HttpRequest) -> HttpResponse:
    access = browser_access(request)
    form = AnalyticsRangeForm(request.GET)
    context = {"nav": "analytics", "access": access, "form": form, "presets": PRESET_LABELS,
               "preset": request.GET.get("range") or DEFAULT_PRESET, "errors": {}}  # fmt: skip
    if form.is_valid():
        start, end = form.window()
        window = PageWindow(start=start, end=end, granularity=granularity_for(start, end))
        try:
            data = analytics_page_data(
                project=access.project, window=window, metric=form.cleaned_data["metric"]
            )
        except ValidationError as error:
            context["errors"] = error_messages(error)
        else:
            context.update(data=data, window=window, charts=_charts(data, window.granularity))
    else:
        context["errors"] = error_messages(ValidationError(form.errors.as_data()))
    return render(request, "analytics/page.html", context, status=400 if context["errors"] else 200)
