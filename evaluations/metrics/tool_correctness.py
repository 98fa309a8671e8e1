from .base import STRING_LIST, Metric, Outcome, rubric_schema
from .trace_view import TraceView


def tool_call_lines(view: TraceView) -> str:
    """One line per call: index, name, arguments, then its result or error."""
    lines = []
    for call in view.tool_calls:
        ending = f"error: {call.error}" if call.error else f"result: {call.result or '(none)'}"
        lines.append(f"[{call.index}] {call.name}({call.arguments}) -> {ending}")
    return "\n".join(lines) or "(no tool calls)"


class ToolCorrectness(Metric):
    """Were the right tools chosen, given those available: over-, under- and mis-selection."""

    name = "tool_correctness"
    description = "Evaluates whether the agent selected appropriate tools for the task."
    requires = ("task",)
    prompt_name = "tool_correctness"
    output_schema = rubric_schema(
        over_selection=STRING_LIST, under_selection=STRING_LIST, mis_selection=STRING_LIST
    )

    def shortcut(self, view: TraceView, shared: dict) -> Outcome | None:
        if not view.tool_calls and not view.available_tools:
            return Outcome(1.0, "No tools were available or called, so no tool could be chosen wrongly.")
        return None

    def variables(self, view: TraceView, shared: dict) -> dict[str, str]:
        available = ", ".join(view.available_tools) or "not recorded"
        return {"trace": view.text, "task": shared["task"]["task"], "available_tools": available,
                "tool_calls": tool_call_lines(view)}  # fmt: skip
