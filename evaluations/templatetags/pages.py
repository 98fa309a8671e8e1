"""Template helpers for the annotation pages: the project switcher and small formatters."""

from django import template
from django.utils.safestring import SafeString

from pandaprobe.projects.access import SESSION_PROJECT_KEY, member_projects

from .. import trace_html
from ..links import session_page_url

register = template.Library()


@register.inclusion_tag("evaluations/includes/project_switcher.html", takes_context=True)
def project_switcher(context) -> dict:
    """The signed-in user's projects, with the session's current one selected.

    A tag rather than view context so every page extending base.html (queues too) gets it.
    """
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return {"projects": []}
    projects = member_projects(request)
    current = str(request.session.get(SESSION_PROJECT_KEY) or "")
    ids = {str(p.pk) for p in projects}
    current_id = current if current in ids else (str(projects[0].pk) if projects else "")
    return {
        "projects": [{"pk": str(p.pk), "name": p.name} for p in projects],
        "current_id": current_id,
        "next_path": request.path,
        "csrf_token": context.get("csrf_token"),
    }


@register.filter
def session_url(session_id: str) -> str:
    """`{{ id|session_url }}`: the session's page, the id percent-encoded as one path segment."""
    return session_page_url(str(session_id))


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
def span_tree(nodes) -> SafeString:
    """The span tree, from the depth-first nodes of `annotation_selectors.span_tree`."""
    return SafeString(trace_html.span_tree_html(nodes))


@register.simple_tag
def span_body(span) -> SafeString:
    """What opening a span shows (the page endpoint `trace-span` serves it alone)."""
    return SafeString(trace_html.span_body_html(span))
