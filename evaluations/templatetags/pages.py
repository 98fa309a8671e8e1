"""Template helpers for the annotation pages: page links, the project switcher, small formatters."""

import html
import json

from django import template
from django.utils.safestring import SafeString

from pandaprobe.projects.access import current_project, member_projects

from .. import links

register = template.Library()
COMPACT_JSON_CHARS = 100  # shorter JSON reads fine on one line (and the C encoder is much faster)


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


@register.filter
def pretty_json(value) -> str:
    """JSON for reading: on one line when short, else indented. Plain text: templates escape it."""
    try:
        compact = json.dumps(value, ensure_ascii=False, default=str)
        if len(compact) <= COMPACT_JSON_CHARS:
            return compact
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


@register.filter
def duration_ms(value) -> str:
    """A duration in milliseconds, shown as ms or s."""
    if value is None or value == "":
        return "–"
    value = float(value)
    if value < 1000:
        return f"{value:.0f} ms"
    return f"{value / 1000:.2f} s"


@register.filter
def cost(value) -> str:
    if value is None or value == "":
        return "–"
    return f"${float(value):.4f}"


# --- trace and span payloads, and the span tree ---------------------------------------------------
# Built in Python rather than in templates: a 500-span trace would otherwise render ~100k template
# nodes. Every value from a trace goes through `_e` (html.escape, quotes too), so trace content
# (untrusted agent output) is never emitted unescaped; only the fixed markup here is trusted.

KNOWN_ROLES = {"user", "assistant", "system", "tool", "developer", "function"}
OPEN_JSON_LINES = 25  # shorter JSON starts unfolded


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _content_text(content) -> tuple[str, str | None]:
    """A message's content as text, plus pretty JSON for whatever is not text (images, tools)."""
    if content is None:
        return "", None
    if isinstance(content, str):
        return content, None
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        others = [p for p in content if not (isinstance(p, dict) and isinstance(p.get("text"), str))]
        return "\n\n".join(texts), (pretty_json(others) if others else None)
    return "", pretty_json(content)


def _message(message: dict) -> dict:
    role = str(message.get("role"))
    text, extra = _content_text(message.get("content"))
    rest = {k: v for k, v in message.items() if k not in ("role", "content")}
    if rest:
        extra = "\n".join(part for part in (extra, pretty_json(rest)) if part)
    return {"role": role, "css": role if role in KNOWN_ROLES else "other", "text": text, "extra": extra}


def _messages(value) -> list | None:
    messages = value.get("messages") if isinstance(value, dict) else value
    if not isinstance(messages, list) or not messages:
        return None
    if not all(isinstance(m, dict) and "role" in m for m in messages):
        return None
    return [_message(m) for m in messages]


def payload_view(value) -> dict:
    """How to show a trace or span input/output: a chat conversation ({"messages": [{role,
    content}]} or a bare list of them), plain text, or pretty-printed JSON."""
    if value is None or value == "" or value == {} or value == []:
        return {"kind": "empty"}
    conversation = _messages(value)
    if conversation is not None:
        rest = {k: v for k, v in value.items() if k != "messages"} if isinstance(value, dict) else {}
        return {
            "kind": "conversation",
            "conversation": conversation,
            "rest": pretty_json(rest) if rest else None,
        }
    if isinstance(value, str):
        return {"kind": "text", "text": value}
    text = pretty_json(value)
    return {"kind": "json", "json": text, "open": text.count("\n") < OPEN_JSON_LINES}


def _details(summary: str, text: str, *, is_open: bool = False) -> str:
    opened = " open" if is_open else ""
    return f'<details class="json"{opened}><summary>{_e(summary)}</summary><pre>{_e(text)}</pre></details>'


def _message_html(m: dict) -> str:
    content = f'<div class="content">{_e(m["text"])}</div>' if m["text"] else ""
    extra = _details("More", m["extra"]) if m["extra"] else ""
    return f'<div class="message role-{_e(m["css"])}"><div class="role">{_e(m["role"])}</div>{content}{extra}</div>'


def _payload_html(value, label: str = "") -> str:
    view = payload_view(value)
    if view["kind"] == "empty":
        return f'<p class="muted small">{_e(label or "Nothing")}: empty</p>'
    if view["kind"] == "conversation":
        messages = "".join(_message_html(m) for m in view["conversation"])
        rest = _details("Other fields", view["rest"]) if view["rest"] else ""
        return f'<div class="conversation">{messages}{rest}</div>'
    if view["kind"] == "text":
        return f'<pre class="plain">{_e(view["text"])}</pre>'
    return _details("JSON", view["json"], is_open=view["open"])


@register.simple_tag
def payload(value, label: str = "") -> SafeString:
    """A trace's or span's input or output, readable (see `payload_view`); escaped by `_e`."""
    return SafeString(_payload_html(value, label))


def _span_meta(node) -> str:
    span = node.span
    parts = [_e(duration_ms(node.duration_ms))]
    if span.model:
        parts.append(f" · {_e(span.model)}")
    if span.total_tokens:
        parts.append(f" · {_e(span.total_tokens)} tok")
    if span.total_cost:
        parts.append(f" · {_e(cost(span.total_cost))}")
    if span.status == "ERROR":
        parts.append(' · <span class="badge status-ERROR">error</span>')
    return "".join(parts)


def _span_body(span) -> str:
    parts = [f'<div class="span-error">{_e(span.error)}</div>'] if span.error else []
    parts.append(f"<div><h3>Input</h3>{_payload_html(span.input, 'Input')}</div>")
    parts.append(f"<div><h3>Output</h3>{_payload_html(span.output, 'Output')}</div>")
    for title, value in (("Metadata", span.metadata), ("Model parameters", span.model_parameters),
                         ("Token usage", span.token_usage)):  # fmt: skip
        if value:
            parts.append(_details(title, pretty_json(value)))
    return "".join(parts)


def _span_item(node) -> str:
    span = node.span
    return (
        # The id is the anchor other pages link to (`#span-<span_id>`, e.g. the session page).
        f'<li id="span-{_e(span.span_id)}" data-span-id="{_e(span.span_id)}" data-depth="{node.depth:d}">'
        f'<details class="span status-{_e(span.status)}"><summary>'
        f'<span class="span-name"><span class="badge kind">{_e(span.kind)}</span> {_e(span.name)}</span>'
        f'<span class="bar" title="{_e(duration_ms(node.duration_ms))}">'
        # SVG geometry, not a `style=` attribute: the Content-Security-Policy allows no inline style.
        f'<svg aria-hidden="true"><rect x="{node.offset_pct:.2f}%" width="{node.width_pct:.2f}%" '
        f'height="100%" rx="3"></rect></svg></span>'
        f'<span class="span-meta">{_span_meta(node)}</span></summary>'
        f'<div class="span-body">{_span_body(span)}</div></details>'
    )


@register.simple_tag
def span_tree(nodes) -> SafeString:
    """The span tree as nested lists, from the depth-first nodes of `annotation_selectors.span_tree`."""
    parts = []
    for node in nodes:
        parts.append(_span_item(node))
        # A parent opens its children's list; a leaf closes itself and every level that ends here.
        parts.append("<ul>" if node.has_children else "</li>" + "</ul></li>" * len(node.closers))
    return SafeString(f'<ul class="span-tree">{"".join(parts)}</ul>')
