"""The session page's conversation: each trace as one turn, what the user said and the answer.

Which messages make a turn comes from the judge's reading of payloads (`metrics.trace_view`); how a
message looks (tool calls as name and arguments, long ones folded) comes from the trace page's chat
rendering (`trace_html.chat_message_html`), so the pages show a message the same way. Trace content
is untrusted: every value goes through `trace_html._e`.
"""

from django import template
from django.utils.safestring import SafeString

from ..metrics.trace_view import as_text, chat_messages
from ..trace_html import _e, chat_message_html

register = template.Library()
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


@register.simple_tag
def turn(value, role: str) -> SafeString:
    """`{% turn trace.input "user" %}`: the user's side of a trace's turn (or the assistant's,
    from the output), long messages folded, tool calls as name and arguments."""
    messages = turn_messages(value, role)
    if not messages:
        return SafeString(f'<p class="muted small">No {_e(role)} message</p>')
    return SafeString("".join(chat_message_html(m, wrapper="turn-message") for m in messages))
