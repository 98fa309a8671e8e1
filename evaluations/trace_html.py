"""HTML of trace content: payloads (chat, text, JSON), tool calls, a span's body and the span tree.

One rendering for the trace page, the review queue's item (both through
`templates/evaluations/includes/trace_body.html`) and the session page's turns.

Built in Python rather than in templates: a 500-span trace would otherwise render ~100k template
nodes. Every value from a trace goes through `_e` (html.escape, quotes too), so trace content
(untrusted agent output) is never emitted unescaped; only the fixed markup here is trusted.
"""

import html
import json

from django.utils import dateformat, timezone

from .links import page_url

KNOWN_ROLES = {"user", "assistant", "system", "tool", "developer", "function"}
COMPACT_JSON_CHARS = 100  # shorter JSON reads fine on one line (and the C encoder is much faster)
OPEN_JSON_LINES = 25  # shorter JSON starts unfolded
LONG_MESSAGE_CHARS = 800  # longer messages start folded: a session page holds up to 100 turns
LONG_MESSAGE_LINES = 15
SUMMARY_CHARS = 120
# A longer conversation shows its first message (often the system prompt) and its last
# `TAIL_MESSAGES`; the ones between are folded under one summary.
MANY_MESSAGES = 8
TAIL_MESSAGES = 3


def _e(value) -> str:
    return html.escape(str(value), quote=True)


# --- small formatters (also template filters: `templatetags/pages.py`) ----------------------------


def pretty_json(value) -> str:
    """JSON for reading: on one line when short, else indented. Plain text: templates escape it."""
    try:
        compact = json.dumps(value, ensure_ascii=False, default=str)
        if len(compact) <= COMPACT_JSON_CHARS:
            return compact
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def duration_ms(value) -> str:
    """A duration in milliseconds, shown as ms or s."""
    if value is None or value == "":
        return "–"
    value = float(value)
    if value < 1000:
        return f"{value:.0f} ms"
    return f"{value / 1000:.2f} s"


def cost(value) -> str:
    if value is None or value == "":
        return "–"
    return f"${float(value):.4f}"


def timestamp_html(value, *, precise: bool = False) -> str:
    """A `<time>` with its ISO datetime (offset included) showing the time zone it is read in:
    `2026-12-02 14:03:11 UTC` (milliseconds too when `precise`, for spans)."""
    if value is None:
        return '<span class="muted">–</span>'
    local = timezone.localtime(value)
    seconds = f"{local:%Y-%m-%d %H:%M:%S}" + (f".{local.microsecond // 1000:03d}" if precise else "")
    shown = f"{seconds} {dateformat.format(local, 'T')}"
    return f'<time datetime="{_e(local.isoformat())}">{_e(shown)}</time>'


def copy_button(text, label: str = "Copy") -> str:
    """A button copying `text` (static/js/trace.js; hidden without JavaScript)."""
    return f'<button type="button" class="copy js-only" data-copy="{_e(text)}">{_e(label)}</button>'


# --- tool calls -----------------------------------------------------------------------------------


def parsed_arguments(raw):
    """Tool-call arguments are JSON in a string: parsed when they parse, as sent otherwise."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _arguments_text(raw) -> str:
    value = parsed_arguments(raw)
    return value if isinstance(value, str) else pretty_json(value)


def _tool_calls(message: dict) -> list[tuple[object, object]]:
    """(name, arguments) of a message's tool calls: OpenAI's `tool_calls` and older
    `function_call`, and Anthropic's `tool_use` content parts."""
    calls = message.get("tool_calls")
    found = []
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        function = function if isinstance(function, dict) else {}
        found.append((function.get("name"), function.get("arguments", "")))
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        found.append((legacy.get("name"), legacy.get("arguments", "")))
    content = message.get("content")
    for part in content if isinstance(content, list) else []:
        if isinstance(part, dict) and part.get("type") == "tool_use":
            found.append((part.get("name"), part.get("input", "")))
    return found


def tool_call_html(name, arguments, *, tag: str = "li", label: str = "tool call") -> str:
    return (
        f'<{tag} class="tool-call"><span class="badge kind">{_e(label)}</span> '
        f'<span class="mono">{_e(name or "?")}</span>'
        f'<pre class="arguments">{_e(_arguments_text(arguments))}</pre></{tag}>'
    )


def _tool_calls_html(calls: list) -> str:
    items = "".join(tool_call_html(name, arguments) for name, arguments in calls)
    return f'<ul class="tool-calls">{items}</ul>' if items else ""


# --- chat messages --------------------------------------------------------------------------------


def _is_tool_use(part) -> bool:
    return isinstance(part, dict) and part.get("type") == "tool_use"


def _content_text(content) -> tuple[str, str | None]:
    """A message's content as text, plus pretty JSON for whatever is not text (images); tool-use
    parts are left to `_tool_calls`."""
    if content is None:
        return "", None
    if isinstance(content, str):
        return content, None
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        others = [
            p
            for p in content
            if not (isinstance(p, dict) and isinstance(p.get("text"), str)) and not _is_tool_use(p)
        ]
        return "\n\n".join(texts), (pretty_json(others) if others else None)
    return "", pretty_json(content)


def shown_message(message: dict) -> dict:
    """A message as shown: role, its CSS class, text, and its other fields as pretty JSON (tool
    calls excepted: `chat_message_html` shows them as name and arguments)."""
    role = str(message.get("role"))
    text, extra = _content_text(message.get("content"))
    rest = {k: v for k, v in message.items() if k not in ("role", "content", "tool_calls", "function_call")}
    if rest:
        extra = "\n".join(part for part in (extra, pretty_json(rest)) if part)
    return {"role": role, "css": role if role in KNOWN_ROLES else "other", "text": text, "extra": extra}


def _details(summary: str, text: str, *, is_open: bool = False) -> str:
    opened = " open" if is_open else ""
    return f'<details class="json"{opened}><summary>{_e(summary)}</summary><pre>{_e(text)}</pre></details>'


def message_html(m: dict, calls: list | None = None) -> str:
    content = f'<div class="content">{_e(m["text"])}</div>' if m["text"] else ""
    extra = _details("More", m["extra"]) if m["extra"] else ""
    return (
        f'<div class="message role-{_e(m["css"])}"><div class="role">{_e(m["role"])}</div>'
        f"{content}{_tool_calls_html(calls or [])}{extra}</div>"
    )


def _folded(html_text: str, shown: dict) -> str:
    """A long message starts folded, its summary the role and the text's beginning."""
    text = shown["text"]
    if len(text) <= LONG_MESSAGE_CHARS and text.count("\n") < LONG_MESSAGE_LINES:
        return html_text
    head = " ".join(text[:SUMMARY_CHARS].split())
    return (
        f'<details class="long-message"><summary><b>{_e(shown["role"])}</b> {_e(head)}… '
        f'<span class="muted small">{len(text)} characters</span></summary>{html_text}</details>'
    )


def chat_message_html(message: dict, *, wrapper: str = "") -> str:
    """One chat message: role, text, tool calls as name and arguments, other fields folded; a
    long one folded whole. `wrapper`: a class for a surrounding div (the session page's turns)."""
    shown = shown_message(message)
    html_text = message_html(shown, _tool_calls(message))
    if wrapper:
        html_text = f'<div class="{_e(wrapper)}">{html_text}</div>'
    return _folded(html_text, shown)


def conversation_html(messages: list[dict]) -> str:
    """A conversation's messages; a long one folds those between its first and its last few."""
    if len(messages) <= MANY_MESSAGES:
        return "".join(chat_message_html(m) for m in messages)
    head, middle, tail = messages[:1], messages[1:-TAIL_MESSAGES], messages[-TAIL_MESSAGES:]
    folded = "".join(chat_message_html(m) for m in middle)
    return (
        "".join(chat_message_html(m) for m in head)
        + f'<details class="more-messages"><summary>{len(middle)} more messages</summary>'
        f'<div class="conversation">{folded}</div></details>' + "".join(chat_message_html(m) for m in tail)
    )


# --- payloads -------------------------------------------------------------------------------------


def _single_message(value) -> bool:
    return (
        isinstance(value, dict)
        and value.get("role") in KNOWN_ROLES
        and ("content" in value or "tool_calls" in value)
        and "messages" not in value
    )


def chat_payload(value) -> list[dict] | None:
    """The messages of a chat payload: {"messages": [...]}, a bare list of messages, or a single
    message (as outputs often are); None for anything else."""
    if _single_message(value):
        value = [value]
    messages = value.get("messages") if isinstance(value, dict) else value
    if not isinstance(messages, list) or not messages:
        return None
    if not all(isinstance(m, dict) and "role" in m for m in messages):
        return None
    return messages


def json_html(value, summary: str = "JSON") -> str:
    """Pretty JSON under a summary; long JSON starts folded, its summary counting the lines."""
    text = pretty_json(value)
    lines = text.count("\n") + 1
    is_open = lines < OPEN_JSON_LINES
    return _details(summary if is_open else f"{summary} · {lines} lines", text, is_open=is_open)


def _text_html(text: str) -> str:
    block = f'<pre class="plain">{_e(text)}</pre>'
    if len(text) <= LONG_MESSAGE_CHARS * 4 and text.count("\n") < OPEN_JSON_LINES:
        return block
    head = " ".join(text[:SUMMARY_CHARS].split())
    return (
        f'<details class="long-text"><summary>{_e(head)}… '
        f'<span class="muted small">{len(text)} characters</span></summary>{block}</details>'
    )


def payload_html(value, label: str = "") -> str:
    """A trace's or span's input or output, readable: a chat conversation, plain text, or
    pretty-printed JSON (long ones folded)."""
    if value is None or value == "" or value == {} or value == []:
        return f'<p class="muted small">{_e(label or "Nothing")}: empty</p>'
    messages = chat_payload(value)
    if messages is not None:
        # A single message's other fields are its own (`chat_message_html` shows them).
        wrapped = isinstance(value, dict) and "messages" in value
        rest = {k: v for k, v in value.items() if k != "messages"} if wrapped else {}
        others = _details("Other fields", pretty_json(rest)) if rest else ""
        return f'<div class="conversation">{conversation_html(messages)}{others}</div>'
    if isinstance(value, str):
        return _text_html(value)
    return json_html(value)


def _tool_input_html(span) -> str:
    """A TOOL span's input as the tool's name and its arguments (an OpenAI-style {"name",
    "arguments"} input names the tool itself; arguments sent as a JSON string are parsed)."""
    value = parsed_arguments(span.input)
    name = span.name
    if isinstance(value, dict) and set(value) <= {"name", "arguments", "id", "type"} and "arguments" in value:
        name, value = value.get("name") or name, parsed_arguments(value["arguments"])
    if value is None or value == "" or value == {}:
        return tool_call_html(name, "(no arguments)", tag="div", label="tool")
    return tool_call_html(name, value, tag="div", label="tool")


# --- spans ----------------------------------------------------------------------------------------


def _span_ids_html(span) -> str:
    parts = [f"<dt>Span id</dt><dd><code>{_e(span.span_id)}</code> {copy_button(span.span_id)}</dd>"]
    if span.parent_span_id:
        parts.append(f'<dt>Parent</dt><dd><a href="#span-{_e(span.parent_span_id)}" class="mono">'
                     f"{_e(span.parent_span_id)}</a></dd>")  # fmt: skip
    parts.append(f"<dt>Started</dt><dd>{timestamp_html(span.started_at, precise=True)}</dd>")
    parts.append(f"<dt>Ended</dt><dd>{timestamp_html(span.ended_at, precise=True)}</dd>")
    return f'<dl class="meta span-ids">{"".join(parts)}</dl>'


def span_body_html(span) -> str:
    """What opening a span shows: its ids and times, error, input and output (a tool's name and
    arguments, then its result), metadata and the model's figures."""
    parts = [_span_ids_html(span)]
    if span.error:
        parts.append(f'<div class="span-error">{_e(span.error)}</div>')
    if span.kind == "TOOL":
        parts.append(f"<div><h3>Arguments</h3>{_tool_input_html(span)}</div>")
        parts.append(f"<div><h3>Result</h3>{payload_html(parsed_arguments(span.output), 'Result')}</div>")
    else:
        parts.append(f"<div><h3>Input</h3>{payload_html(span.input, 'Input')}</div>")
        parts.append(f"<div><h3>Output</h3>{payload_html(span.output, 'Output')}</div>")
    for title, value in (("Metadata", span.metadata), ("Model parameters", span.model_parameters),
                         ("Token usage", span.token_usage), ("Cost", span.cost)):  # fmt: skip
        if value:
            parts.append(json_html(value, title))
    return "".join(parts)


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


def span_body_url(span, project) -> str:
    return page_url("trace-span", project, span.trace_id, span.span_id)


def _span_body_slot(node, project) -> str:
    """The body inline for the first spans (`annotation_selectors.INLINE_SPAN_BODIES`), else a
    link to it: static/js/trace.js loads it in place when the span is opened; without JavaScript
    the link opens it."""
    if node.inline:
        return f'<div class="span-body">{span_body_html(node.span)}</div>'
    return (
        f'<div class="span-body"><a class="span-load" href="{_e(span_body_url(node.span, project))}">'
        "Show input and output</a></div>"
    )


def _span_item(node, project) -> str:
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
        f"{_span_body_slot(node, project)}</details>"
    )


def span_tree_html(nodes, project) -> str:
    """The span tree of a trace of `project` as nested lists, from the depth-first nodes of
    `annotation_selectors.span_tree`."""
    parts = []
    for node in nodes:
        parts.append(_span_item(node, project))
        # A parent opens its children's list; a leaf closes itself and every level that ends here.
        parts.append("<ul>" if node.has_children else "</li>" + "</ul></li>" * len(node.closers))
    return f'<ul class="span-tree">{"".join(parts)}</ul>'
