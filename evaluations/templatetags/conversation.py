"""The session page's conversation: each trace as one turn, what the user said and the answer.

Which messages make a turn comes from the judge's reading of payloads (`metrics.trace_view`); how a
message looks comes from the trace page's chat rendering (`pages._message_html`), so the two pages
show a message the same way. Trace content is untrusted: every value goes through `pages._e`.
"""

import json

from django import template
from django.utils.safestring import SafeString

from ..metrics.trace_view import as_text, chat_messages
from .pages import _e, _message, _message_html, pretty_json

register = template.Library()
LONG_MESSAGE_CHARS = 800  # longer messages start folded: a session page holds up to 100 turns
LONG_MESSAGE_LINES = 15
SUMMARY_CHARS = 120
# Who answers whom: a turn's user side follows the last answer, its answer follows the last question.
TURN_SIDES = {"user": ("assistant", ("user",)), "assistant": ("user", ("assistant", "tool"))}


def turn_messages(value, role: str) -> list[dict]:
    """What `role` ("user" or "assistant") said in this trace's turn, as chat messages.

    A chat payload often repeats the history: only the messages after the other side's last one
    count (else the last of `role`). A string is one message of `role`; other JSON, compact text.
    """
    if value is None or value in ("", {}, []):
        return []
    if isinstance(value, dict) and "role" in value and "messages" not in value:
        value = [value]  # a single message, as outputs often are
    messages = chat_messages(value)
    if messages is None:
        return [{"role": role, "content": as_text(value)}]
    answered_by, roles = TURN_SIDES[role]
    last = max((i for i, m in enumerate(messages) if m.get("role") == answered_by), default=-1)
    said = [m for m in messages[last + 1 :] if m.get("role") in roles]
    return said or [m for m in messages if m.get("role") == role][-1:]


def _arguments(raw) -> str:
    """Tool-call arguments are JSON in a string: shown parsed when they parse, as sent otherwise."""
    try:
        return pretty_json(json.loads(raw)) if isinstance(raw, str) else pretty_json(raw)
    except ValueError:
        return str(raw)


def _tool_calls_html(calls) -> str:
    items = []
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        function = function if isinstance(function, dict) else {}
        items.append(
            f'<li class="tool-call"><span class="badge kind">tool call</span> '
            f'<span class="mono">{_e(function.get("name") or "?")}</span>'
            f'<pre class="arguments">{_e(_arguments(function.get("arguments", "")))}</pre></li>'
        )
    return f'<ul class="tool-calls">{"".join(items)}</ul>' if items else ""


def _folded(html: str, shown: dict) -> str:
    text = shown["text"]
    if len(text) <= LONG_MESSAGE_CHARS and text.count("\n") < LONG_MESSAGE_LINES:
        return html
    head = " ".join(text[:SUMMARY_CHARS].split())
    return (
        f'<details class="long-message"><summary><b>{_e(shown["role"])}</b> {_e(head)}… '
        f'<span class="muted small">{len(text)} characters</span></summary>{html}</details>'
    )


def _turn_message_html(message: dict) -> str:
    shown = _message({key: value for key, value in message.items() if key != "tool_calls"})
    html = _message_html(shown) + _tool_calls_html(message.get("tool_calls"))
    return _folded(f'<div class="turn-message">{html}</div>', shown)


@register.simple_tag
def turn(value, role: str) -> SafeString:
    """`{% turn trace.input "user" %}`: the user's side of a trace's turn (or the assistant's,
    from the output), long messages folded, tool calls as name and arguments."""
    messages = turn_messages(value, role)
    if not messages:
        return SafeString(f'<p class="muted small">No {_e(role)} message</p>')
    return SafeString("".join(_turn_message_html(m) for m in messages))
