"""Reads for the annotation pages and score configs: the trace explorer, the trace page (span
tree, scores) and the project's score configs. Every query starts from a project."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils import timezone

from pandaprobe.api.errors import require_valid
from pandaprobe.errors import get_or_not_found
from pandaprobe.traces.filters import TraceFilter
from pandaprobe.traces.models import Span, Trace
from pandaprobe.traces.selectors import trace_get_bare, traces_of

from ..filters import RANGE_PRESETS, ExplorerFilter, ScoreConfigFilter
from ..models import ScoreConfig, TraceScore
from .scores import latest_scores_per_reviewer

# A list row never shows a trace's payloads, which can be large.
LIST_DEFERRED = ("input", "output", "metadata")
# The span tree shows names, kinds, timings, tokens, cost and status; a span's body (these fields)
# is loaded when it is opened (`pages.trace_span`), except for the first `INLINE_SPAN_BODIES` in
# display order. A 500-span trace with 1-2 KB per span was a 1.3 MB page with every body inline
# (benchmarks/bench_trace_page.py measures the page's size).
SPAN_BODY_FIELDS = ("input", "output", "metadata", "model_parameters", "token_usage", "cost", "error")
INLINE_SPAN_BODIES = 10

# --- score configs -------------------------------------------------------------------------------


def score_configs_of(project) -> QuerySet:
    return ScoreConfig.objects.filter(project=project)


def score_config_get(*, project, config_id) -> ScoreConfig:
    """One config of the project (404 otherwise)."""
    return get_or_not_found(score_configs_of(project), "Score config not found", pk=config_id)


def score_config_list(*, project, params) -> QuerySet:
    """The project's configs filtered by query parameters (422 on a bad one), by name."""
    return require_valid(ScoreConfigFilter(params, queryset=score_configs_of(project))).qs.order_by(
        "name", "id"
    )


def active_score_configs(*, project) -> list[ScoreConfig]:
    """The configs a reviewer may score with (archived ones are hidden)."""
    return list(score_configs_of(project).filter(is_archived=False).order_by("name"))


def score_config_for_input(*, project, config_id) -> ScoreConfig | None:
    """The config a score names by id, or None; another project's id is a 422 naming config_id."""
    if config_id is None:
        return None
    config = score_configs_of(project).filter(pk=config_id).first()
    if config is None:
        raise ValidationError({"config_id": "no such score config in this project"})
    return config


# --- trace explorer ------------------------------------------------------------------------------


def explorer_params(query: QueryDict, *, now: datetime | None = None) -> QueryDict:
    """The explorer's query string as its filter reads it: tags may be typed comma-separated, and a
    time-range preset (`range=24h`) becomes `started_after` (now minus the preset, in the current
    time zone, as the date box shows it) with no `started_before`: the page, a run started from it
    and a queue built from it all filter on that one moment."""
    params = query.copy()
    tags = [tag.strip() for raw in query.getlist("tags") for tag in raw.split(",") if tag.strip()]
    params.setlist("tags", tags)
    preset = RANGE_PRESETS.get(query.get("range", ""))
    if preset is not None:
        start = timezone.localtime(now or timezone.now()) - preset
        params.setlist("started_after", [start.replace(tzinfo=None).isoformat(timespec="seconds")])
        params.setlist("started_before", [])
    return params


def explorer_traces(*, project, params) -> QuerySet:
    """The project's traces by the explorer's filter (`ExplorerFilter`) and sort; a
    `ValidationError` naming each bad parameter (a 422 in the API, a 400 on the page)."""
    return require_valid(ExplorerFilter(params, queryset=traces_of(project))).qs.defer(*LIST_DEFERRED)


# What the explorer's environment and user boxes suggest: values of the latest traces only, so the
# read is one short scan of `trace_project_started` however many traces the project holds.
SUGGESTION_WINDOW = 1000
MAX_SUGGESTIONS = 50


@dataclass(frozen=True)
class ExplorerSuggestions:
    environments: list[str]
    user_ids: list[str]


def explorer_suggestions(*, project) -> ExplorerSuggestions:
    """The distinct environments and user ids of the project's latest traces, most recent first (at
    most `MAX_SUGGESTIONS` each): the explorer's <datalist>s. One query."""
    recent = traces_of(project).order_by("-started_at").values_list("environment", "user_id")
    environments: dict[str, None] = {}
    user_ids: dict[str, None] = {}
    for environment, user_id in recent[:SUGGESTION_WINDOW]:
        if environment and len(environments) < MAX_SUGGESTIONS:
            environments.setdefault(environment)
        if user_id and len(user_ids) < MAX_SUGGESTIONS:
            user_ids.setdefault(user_id)
    return ExplorerSuggestions(environments=list(environments), user_ids=list(user_ids))


# --- trace page ----------------------------------------------------------------------------------


@dataclass
class SpanNode:
    """A span placed in the tree, with what the template needs to nest and draw it."""

    span: Span
    depth: int
    has_children: bool = False
    closers: range = field(default_factory=lambda: range(0))  # levels that end after this leaf
    offset_pct: float = 0.0
    width_pct: float = 0.0
    duration_ms: float | None = None
    inline: bool = False  # the body's fields are loaded: the page shows it without a request


@dataclass
class TracePage:
    trace: Trace
    spans: list[SpanNode]
    scores: list[TraceScore]  # the latest per name, source and author; their history: `scores.score_panel`


def _children_by_parent(spans: list[Span]) -> tuple[list[Span], dict]:
    """Roots (no parent, or a parent not in this trace) and each span's children, by start time."""
    ids = {span.span_id for span in spans}
    children: dict = defaultdict(list)
    roots = []
    for span in sorted(spans, key=lambda s: (s.started_at is None, s.started_at or datetime.min, s.pk)):
        if (
            span.parent_span_id is not None
            and span.parent_span_id in ids
            and span.parent_span_id != span.span_id
        ):
            children[span.parent_span_id].append(span)
        else:
            roots.append(span)
    return roots, children


def _depth_first(spans: list[Span]) -> list[SpanNode]:
    """Spans in display order with depths; iterative, so a deep chain cannot overflow the stack.

    A parent cycle (bad data) would hide its spans: they are shown as roots instead.
    """
    roots, children = _children_by_parent(spans)
    nodes, seen = [], set()
    pending = [(span, 0) for span in reversed(roots)]
    while pending or len(seen) < len(spans):
        if not pending:
            orphan = next(s for s in spans if s.span_id not in seen)
            pending.append((orphan, 0))
        span, depth = pending.pop()
        if span.span_id in seen:
            continue
        seen.add(span.span_id)
        kids = [kid for kid in children.get(span.span_id, []) if kid.span_id not in seen]
        nodes.append(SpanNode(span=span, depth=depth, has_children=bool(kids)))
        pending.extend((kid, depth + 1) for kid in reversed(kids))
    return nodes


def _close_levels(nodes: list[SpanNode]) -> None:
    """How many open <ul> levels end after each leaf (the next node is shallower)."""
    for index, node in enumerate(nodes):
        if not node.has_children:
            next_depth = nodes[index + 1].depth if index + 1 < len(nodes) else 0
            node.closers = range(max(node.depth - next_depth, 0))


def _place_on_timeline(trace: Trace, nodes: list[SpanNode]) -> None:
    """Each span's bar, relative to the whole trace (its own start/end, widened by its spans)."""
    starts = [n.span.started_at for n in nodes if n.span.started_at] + [trace.started_at]
    ends = [n.span.ended_at for n in nodes if n.span.ended_at] + [trace.ended_at or trace.started_at]
    begin, end = min(starts), max(ends + starts)  # a span still running ends no earlier than it began
    total = max((end - begin).total_seconds(), 1e-6)
    for node in nodes:
        start, stop = node.span.started_at, node.span.ended_at
        if start is None:
            continue
        node.offset_pct = round((start - begin).total_seconds() / total * 100, 2)
        if stop is not None and stop >= start:
            node.duration_ms = (stop - start).total_seconds() * 1000
            node.width_pct = round(max((stop - start).total_seconds() / total * 100, 0.3), 2)
        else:
            node.width_pct = 0.3
        node.width_pct = min(node.width_pct, max(100 - node.offset_pct, 0.3))


def _load_first_bodies(nodes: list[SpanNode]) -> None:
    """The first spans' bodies, in one query, so a small trace needs no request to open a span."""
    first = nodes[:INLINE_SPAN_BODIES]
    if not first:
        return
    full = Span.objects.filter(trace_id=first[0].span.trace_id).in_bulk([node.span.pk for node in first])
    for node in first:
        node.span, node.inline = full[node.span.pk], True


def span_tree(trace: Trace) -> list[SpanNode]:
    """The trace's spans as a depth-first list for a nested tree: the tree's fields of every span,
    the bodies of the first `INLINE_SPAN_BODIES` (two queries)."""
    nodes = _depth_first(list(trace.spans.defer(*SPAN_BODY_FIELDS)))
    _close_levels(nodes)
    _place_on_timeline(trace, nodes)
    _load_first_bodies(nodes)
    return nodes


def trace_page(*, project, trace_id) -> TracePage:
    """Everything the trace page shows, in a constant number of queries (404 outside the project)."""
    trace = trace_get_bare(project=project, trace_id=trace_id)
    scores = latest_scores_per_reviewer(project=project, trace_ids=[trace.pk])[trace.pk]
    return TracePage(
        trace=trace,
        spans=span_tree(trace),
        scores=scores,
    )


# --- next and previous trace ----------------------------------------------------------------------


def _sort_of(params: QueryDict) -> tuple[str, bool]:
    """The explorer's sort (already validated by its filter): the field and whether descending."""
    field = TraceFilter.SORT_FIELDS[params.get("sort_by") or "started_at"]
    return field, (params.get("sort_order") or "desc") == "desc"


def _beyond(trace: Trace, field: str, op: str, *, nulls_beyond: bool) -> Q:
    """The rows past `trace` on (field, pk) towards `op` ("lt" or "gt"); `nulls_beyond`: rows with
    no value lie that way too (the explorer sorts NULLS LAST: `traces.filters.ordered`).

    The bound on `field` alone comes first so an index on it starts the scan at `trace`: written
    as `field < v OR (field = v AND pk < p)`, PostgreSQL read 500,000 index entries of a
    1,000,000-trace project for a trace halfway down the list (120 ms); bounded, 0.1 ms.
    """
    value = getattr(trace, field)
    if value is None:
        ties = Q(**{f"{field}__isnull": True, f"pk__{op}": trace.pk})
        return ties if nulls_beyond else ties | Q(**{f"{field}__isnull": False})
    bound = Q(**{f"{field}__{op}e": value})
    past = bound & (Q(**{f"{field}__{op}": value}) | Q(**{f"pk__{op}": trace.pk}))
    if nulls_beyond and Trace._meta.get_field(field).null:
        return past | Q(**{f"{field}__isnull": True})
    return past


def trace_neighbours(*, project, trace: Trace, query: QueryDict) -> tuple:
    """The ids of the traces just before and after `trace` in the explorer's list for `query` (its
    filters and sort, so the trace page steps through what the explorer showed); in the project's
    plain order, newest first, when the query is not a valid explorer query. None at either end."""
    try:
        params = explorer_params(query)
        traces = explorer_traces(project=project, params=params)
    except ValidationError:
        params = QueryDict()
        traces = explorer_traces(project=project, params=params)
    field, descending = _sort_of(params)
    ids = traces.exclude(pk=trace.pk).values_list("pk", flat=True)
    forward, backward = ("lt", "gt") if descending else ("gt", "lt")
    previous = ids.filter(_beyond(trace, field, backward, nulls_beyond=False)).reverse().first()
    following = ids.filter(_beyond(trace, field, forward, nulls_beyond=True)).first()
    return previous, following
