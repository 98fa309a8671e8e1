"""Server-rendered SVG charts for the analytics page: no JavaScript and no CDN, and the page's CSP
(no inline scripts or styles) holds because every colour and size comes from classes in
static/css/analytics.css. Text goes through `format_html`, so a metric or model name cannot inject
markup."""

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

Point = tuple[str, float]
WIDTH, HEIGHT = 600, 200
# Room for the axis labels: left for the top value, bottom for the first and last bucket.
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 12, 24


def _number(value: float) -> str:
    return f"{value:.4g}"


def _at(value: float) -> str:
    # format_html escapes its arguments to strings first, so coordinates arrive formatted.
    return f"{value:.1f}"


def _scale(points: Sequence[Point], count: int, top: float) -> list[tuple[float, float]]:
    """SVG coordinates of the values, y from 0 at the bottom to `top` at the top."""
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = inner_w / max(count - 1, 1)
    return [
        (LEFT + step * i, TOP + inner_h * (1 - (value / top if top else 0)))
        for i, (_, value) in enumerate(points)
    ]


def _frame(points: Sequence[Point], top: float, body: SafeString, title: str) -> SafeString:
    """The SVG element around a chart's marks, with its axes and labels."""
    bottom = HEIGHT - BOTTOM
    return format_html(
        '<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{title}">'
        "<title>{title}</title>"
        '<line class="axis" x1="{l}" y1="{b}" x2="{r}" y2="{b}"></line>'
        '<line class="axis" x1="{l}" y1="{t}" x2="{l}" y2="{b}"></line>'
        '<text class="tick" x="{tx}" y="{ty}" text-anchor="end">{top}</text>'
        '<text class="tick" x="{tx}" y="{b}" text-anchor="end">0</text>'
        '<text class="tick" x="{l}" y="{lab_y}">{first}</text>'
        '<text class="tick" x="{r}" y="{lab_y}" text-anchor="end">{last}</text>'
        "{body}</svg>",
        w=WIDTH, h=HEIGHT, title=title, l=LEFT, r=WIDTH - RIGHT, t=TOP, b=bottom, tx=LEFT - 4,
        ty=TOP + 4, top=_number(top), lab_y=HEIGHT - 6, first=points[0][0], last=points[-1][0], body=body,
    )  # fmt: skip


def _empty(title: str) -> SafeString:
    return format_html('<p class="muted chart-empty">{}: no data in this range.</p>', title)


def line_chart(*series: Sequence[Point], title: str) -> SafeString:
    """One line per series (same labels, in order); each point carries its label and value as a
    tooltip. Negative values are drawn at 0: the figures charted here are counts, scores and times."""
    if not series or not series[0]:
        return _empty(title)
    count = len(series[0])
    top = max((value for points in series for _, value in points), default=0.0) or 1.0
    lines = []
    for index, points in enumerate(series):
        xy = _scale([(label, max(value, 0.0)) for label, value in points], count, top)
        path = " ".join(f"{_at(x)},{_at(y)}" for x, y in xy)
        dots = format_html_join(
            "", '<circle class="dot" cx="{}" cy="{}" r="3"><title>{}: {}</title></circle>',
            ((_at(x), _at(y), label, _number(value)) for (x, y), (label, value) in zip(xy, points, strict=True)),
        )  # fmt: skip
        lines.append(format_html('<g class="series series-{}"><polyline class="line" points="{}"></polyline>{}</g>',
                                 index + 1, path, dots))  # fmt: skip
    return _frame(series[0], top, format_html_join("", "{}", ((line,) for line in lines)), title)


def bar_chart(points: Sequence[Point], *, title: str) -> SafeString:
    """One bar per (label, value), left to right, with its label and value as a tooltip."""
    if not points:
        return _empty(title)
    top = max(value for _, value in points) or 1.0
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = inner_w / len(points)
    bars = format_html_join(
        "",
        '<rect class="chart-bar" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>',
        (
            (_at(LEFT + slot * i + slot * 0.1), _at(TOP + inner_h * (1 - max(v, 0.0) / top)), _at(slot * 0.8),
             _at(inner_h * max(v, 0.0) / top), label, _number(v))
            for i, (label, v) in enumerate(points)
        ),
    )  # fmt: skip
    return _frame(points, top, bars, title)
