from collections import Counter

from .base import RATINGS, STRING_LIST, Metric, Outcome, rubric_schema
from .trace_view import TraceView

# Each repeated identical tool call (same name and arguments) beyond the first lowers the score by
# this much, whatever the judge says: going in circles is measured, not a matter of opinion.
REPEAT_PENALTY = 0.1


def repeated_calls(view: TraceView) -> int:
    counts = Counter((call.name, call.arguments) for call in view.tool_calls)
    return sum(count - 1 for count in counts.values())


def failed_calls(view: TraceView) -> int:
    return sum(1 for call in view.tool_calls if call.error)


class Confidence(Metric):
    """Hedging, contradictions, retries and repeated identical tool calls lower it."""

    name = "confidence"
    description = "Evaluates how definite and well-grounded the agent's answer is."
    prompt_name = "confidence"
    output_schema = rubric_schema(hedges=STRING_LIST, contradictions=STRING_LIST)

    def variables(self, view: TraceView, shared: dict) -> dict[str, str]:
        signals = (f"{len(view.tool_calls)} tool calls, {repeated_calls(view)} repeated with identical "
                   f"arguments, {failed_calls(view)} failed; {len(view.errors)} steps with errors")  # fmt: skip
        return {"trace": view.text, "signals": signals, "final_output": view.final_output or "(no answer)"}

    def score(self, output: dict, view: TraceView, shared: dict) -> Outcome:
        repeats = repeated_calls(view)
        value = max(0.0, RATINGS[output["rating"]] - REPEAT_PENALTY * repeats)
        reason = output["reason"]
        if repeats:
            reason += f" ({repeats} repeated identical tool calls lower the score by {REPEAT_PENALTY} each.)"
        details = {"rating": output["rating"], "hedges": output["hedges"],
                   "contradictions": output["contradictions"], "repeated_calls": repeats}  # fmt: skip
        return Outcome(value, reason, details)
