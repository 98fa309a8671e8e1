"""Template helpers for the annotation pages: page links, the project switcher, small formatters."""

from django import template
from django.utils.safestring import SafeString

from pandaprobe.projects.access import current_project, member_projects

from .. import links, trace_html

register = template.Library()


@register.simple_tag
def page_url(name: str, project, *args) -> str:
    """`{% page_url 'trace-detail' project trace.pk %}`: a page of `project` (`links.page_url`);
    every template has the page's `project` (`pandaprobe.projects.context_processors`)."""
    return links.page_url(name, project, *args)


@register.filter
def session_url(session_id: str, project) -> str:
    """`{{ id|session_url:project }}`: the session's page, the id percent-encoded as one path segment."""
    return links.session_page_url(project, str(session_id))


@register.inclusion_tag("evaluations/includes/project_switcher.html", takes_context=True)
def project_switcher(context) -> dict:
    """The signed-in user's projects, with the current one (the page's) selected.

    A tag rather than view context so every page extending base.html (queues too) gets it.
    """
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return {"projects": []}
    current = current_project(request)
    return {
        "projects": [{"pk": str(p.pk), "name": p.name} for p in member_projects(request)],
        "current_id": str(current.pk) if current else "",
        "next_path": request.path,
        "csrf_token": context.get("csrf_token"),
    }


# Formatters shared with the Python-built HTML of trace content (`evaluations/trace_html.py`).
pretty_json = register.filter("pretty_json", trace_html.pretty_json)
duration_ms = register.filter("duration_ms", trace_html.duration_ms)
cost = register.filter("cost", trace_html.cost)


@register.simple_tag
def timestamp(value, precise: bool = False) -> SafeString:
    """`{% timestamp trace.started_at %}`: a `<time>` showing its time zone (`trace_html.timestamp_html`)."""
    return SafeString(trace_html.timestamp_html(value, precise=precise))


@register.simple_tag
def copy_button(text, label: str = "Copy") -> SafeString:
    """`{% copy_button trace.pk %}`: a button copying the text to the clipboard (static/js/trace.js)."""
    return SafeString(trace_html.copy_button(text, label))


# --- trace and span payloads, and the span tree (escaped in `trace_html` by `_e`) -----------------


@register.simple_tag
def payload(value, label: str = "") -> SafeString:
    """A trace's or span's input or output, readable (see `trace_html.payload_html`)."""
    return SafeString(trace_html.payload_html(value, label))


@register.simple_tag
def json_block(value, summary: str = "JSON") -> SafeString:
    """Pretty JSON, folded when long (see `trace_html.json_html`)."""
    return SafeString(trace_html.json_html(value, summary))


@register.simple_tag
def span_tree(nodes, project) -> SafeString:
    """`{% span_tree spans project %}`: the span tree, from the depth-first nodes of
    `annotation_selectors.span_tree`."""
    return SafeString(trace_html.span_tree_html(nodes, project))


@register.simple_tag
def span_body(span) -> SafeString:
    """What opening a span shows (the page endpoint `trace-span` serves it alone)."""
    return SafeString(trace_html.span_body_html(span))
