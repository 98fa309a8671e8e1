"""A trace as the judge reads it: plain data in, compact text out (no database, no litellm).

The judge sees the span tree in order with each step's input, output, tool calls and errors. Long
values are cut with a visible marker, and when the whole trace would exceed the token budget, the
per-value limit shrinks and, last, middle spans are left out with a marker saying how many: the
judge is never handed silently truncated JSON.
"""

import json
from dataclasses import dataclass, field

CHARS_PER_TOKEN = 4  # a conservative estimate for English and JSON; the budget is approximate
DEFAULT_TOKEN_BUDGET = 12_000
MIN_VALUE_CHARS = 200  # never cut a value shorter than this while shrinking
CHAT_ROLES = ("system", "user", "assistant", "tool", "function", "developer")


@dataclass(frozen=True)
class ToolCall:
    index: int
    name: str
    arguments: str
    result: str | None
    error: str | None


@dataclass(frozen=True)
class TraceView:
    """What metrics read of a trace. `text` is the rendered span tree within the budget."""

    name: str
    status: str
    user_input: str
    final_output: str
    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    available_tools: list[str] = field(default_factory=list)
    reasoning: str = ""
    errors: list[str] = field(default_factory=list)


def cut(text: str, limit: int) -> str:
    """`text`, or its head and tail around a marker saying how much was left out."""
    if len(text) <= limit:
        return text
    keep = max(limit - 40, 20)
    head, tail = text[: keep * 2 // 3], text[-(keep // 3) :]
    return f"{head} …[{len(text) - len(head) - len(tail)} characters cut]… {tail}"


def _message_text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, list):  # multi-part content: keep the text parts
        content = " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    parts = [str(content)] if content not in (None, "") else []
    for call in message.get("tool_calls") or []:
        function = (call.get("function") or {}) if isinstance(call, dict) else {}
        parts.append(f"[calls {function.get('name', '?')}({function.get('arguments', '')})]")
    return f"{message.get('role', '?')}: {' '.join(parts)}"


def chat_messages(value) -> list[dict] | None:
    """The messages of a chat payload (`{"messages": [...]}` or a bare list of them), else None."""
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        value = value["messages"]
    if (
        isinstance(value, list)
        and value
        and all(isinstance(m, dict) and m.get("role") in CHAT_ROLES for m in value)
    ):
        return value
    return None


def as_text(value) -> str:
    """A payload as readable text: chat messages as `role: content` lines, other JSON compact."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    messages = chat_messages(value)
    if messages is not None:
        return "\n".join(_message_text(m) for m in messages)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _last_said(value, role: str) -> str:
    """What `role` said last in a chat payload (the user's request, the assistant's answer); any other
    payload as text."""
    messages = chat_messages(value)
    said = [m for m in messages or [] if m.get("role") == role]
    return _message_text(said[-1]).removeprefix(f"{role}: ") if said else as_text(value)


def _ordered(spans: list[dict]) -> list[tuple[int, dict]]:
    """Depth-first, children by start time; orphans (parent never arrived) at the top level."""
    ids = {s["span_id"] for s in spans}
    children: dict = {}
    for span in spans:
        parent = span.get("parent_span_id")
        children.setdefault(parent if parent in ids else None, []).append(span)
    for siblings in children.values():
        siblings.sort(key=lambda s: (str(s.get("started_at") or ""), str(s["span_id"])))
    ordered, stack = [], [(0, s) for s in reversed(children.get(None, []))]
    while stack:
        depth, span = stack.pop()
        ordered.append((depth, span))
        stack.extend((depth + 1, child) for child in reversed(children.get(span["span_id"], [])))
    return ordered


def _tool_calls(ordered: list[tuple[int, dict]]) -> list[ToolCall]:
    tools = [span for _, span in ordered if span.get("kind") == "TOOL"]
    return [
        ToolCall(
            index=index,
            name=str(span.get("name") or "?"),
            arguments=as_text(span.get("input")),
            result=as_text(span.get("output")) or None,
            error=span.get("error") or None,
        )
        for index, span in enumerate(tools)
    ]


def _tool_names(value) -> list[str]:
    names = []
    for tool in value if isinstance(value, list) else []:
        if isinstance(tool, str):
            names.append(tool)
        elif isinstance(tool, dict):
            function = tool.get("function") if isinstance(tool.get("function"), dict) else tool
            if function.get("name"):
                names.append(str(function["name"]))
    return names


def _available_tools(trace: dict, spans: list[dict]) -> list[str]:
    """Tools offered to the model: `tools` in an LLM span's parameters or input, or in metadata."""
    found: list[str] = _tool_names((trace.get("metadata") or {}).get("tools"))
    for span in spans:
        for holder in (span.get("model_parameters"), span.get("input"), span.get("metadata")):
            if isinstance(holder, dict):
                found.extend(_tool_names(holder.get("tools")))
    return list(dict.fromkeys(found))


def _reasoning(ordered: list[tuple[int, dict]]) -> str:
    """The agent's own words along the way: what its LLM steps said, in order."""
    said = [_last_said(span.get("output"), "assistant") for _, span in ordered if span.get("kind") == "LLM"]
    return "\n".join(f"- {text}" for text in said if text)


def _duration(span: dict) -> str:
    start, end = span.get("started_at"), span.get("ended_at")
    if not (start and end) or not hasattr(start, "timestamp"):
        return ""
    return f", {(end - start).total_seconds():.2f}s"


def _span_lines(depth: int, number: int, span: dict, limit: int) -> list[str]:
    pad = "  " * depth
    model = f", model {span['model']}" if span.get("model") else ""
    lines = [
        f"{pad}[{number}] {span.get('kind', 'OTHER')} {span.get('name')} ({span.get('status', 'UNSET')}{model}{_duration(span)})"
    ]
    for label in ("input", "output"):
        text = as_text(span.get(label))
        if text:
            lines.append(f"{pad}  {label}: {cut(text, limit)}")
    if span.get("error"):
        lines.append(f"{pad}  error: {cut(str(span['error']), limit)}")
    return lines


def _render(trace: dict, ordered: list[tuple[int, dict]], limit: int, omit: int = 0) -> str:
    header = [
        f"Trace: {trace.get('name')} (status {trace.get('status')})",
        f"Trace input: {cut(as_text(trace.get('input')), limit)}",
        f"Trace output: {cut(as_text(trace.get('output')), limit)}",
        "Steps:" if ordered else "Steps: none recorded",
    ]
    spans = list(enumerate(ordered, start=1))
    if omit:
        keep_head = (len(spans) - omit) // 2
        spans = [*spans[:keep_head], None, *spans[keep_head + omit :]]
    body = []
    for item in spans:
        if item is None:
            body.append(f"[… {omit} steps left out to fit the token budget …]")
        else:
            number, (depth, span) = item
            body.extend(_span_lines(depth, number, span, limit))
    return "\n".join(header + body)


def render_within(trace: dict, ordered: list[tuple[int, dict]], budget_chars: int) -> str:
    """The rendering at the largest per-value limit that fits; then with middle steps left out."""
    limit = budget_chars
    while True:
        text = _render(trace, ordered, limit)
        if len(text) <= budget_chars or limit <= MIN_VALUE_CHARS:
            break
        limit = max(MIN_VALUE_CHARS, limit // 2)
    if len(text) > budget_chars:
        # The fewest middle steps to leave out: a binary search, each probe one rendering.
        low, high = 1, len(ordered)
        while low < high:
            middle = (low + high) // 2
            if len(_render(trace, ordered, limit, middle)) <= budget_chars:
                high = middle
            else:
                low = middle + 1
        text = _render(trace, ordered, limit, low)
    return cut(text, budget_chars)


def build_trace_view(
    trace: dict, spans: list[dict], *, token_budget: int = DEFAULT_TOKEN_BUDGET
) -> TraceView:
    """`trace` holds the trace's fields (name, status, input, output, metadata); `spans` its spans."""
    ordered = _ordered(spans)
    return TraceView(
        name=str(trace.get("name") or ""),
        status=str(trace.get("status") or ""),
        user_input=_last_said(trace.get("input"), "user"),
        final_output=_last_said(trace.get("output"), "assistant"),
        text=render_within(trace, ordered, token_budget * CHARS_PER_TOKEN),
        tool_calls=_tool_calls(ordered),
        available_tools=_available_tools(trace, spans),
        reasoning=_reasoning(ordered),
        errors=[f"{span.get('name')}: {span['error']}" for _, span in ordered if span.get("error")],
    )
