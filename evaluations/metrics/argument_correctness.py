from .base import Metric, Outcome
from .tool_correctness import tool_call_lines
from .trace_view import TraceView


class ArgumentCorrectness(Metric):
    """A yes/no verdict per tool call on its arguments; the score is the share of yes (1.0 with no calls)."""

    name = "argument_correctness"
    description = "Evaluates whether the agent called its tools with correct arguments."
    prompt_name = "argument_correctness"
    output_schema = {
        "type": "object",
        "properties": {
            "verdicts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "index": {"type": "integer"},
                        "verdict": {"type": "string", "enum": ["yes", "no"]},
                        "reason": {"type": "string"},
                    },
                    "required": ["index", "verdict", "reason"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["verdicts"],
        "additionalProperties": False,
    }

    def shortcut(self, view: TraceView, shared: dict) -> Outcome | None:
        if not view.tool_calls:
            return Outcome(1.0, "The agent made no tool calls, so no arguments could be wrong.", {"calls": 0})
        return None

    def variables(self, view: TraceView, shared: dict) -> dict[str, str]:
        return {"trace": view.text, "user_input": view.user_input, "tool_calls": tool_call_lines(view)}

    def score(self, output: dict, view: TraceView, shared: dict) -> Outcome:
        # One verdict per call index; a call the judge skipped counts as not confirmed correct.
        by_index = {v["index"]: v for v in output["verdicts"] if 0 <= v["index"] < len(view.tool_calls)}
        verdicts = [by_index.get(call.index) for call in view.tool_calls]
        wrong = [f"[{c.index}] {c.name}: {v['reason'] if v else 'no verdict given'}"
                 for c, v in zip(view.tool_calls, verdicts, strict=True) if not v or v["verdict"] != "yes"]  # fmt: skip
        correct = len(view.tool_calls) - len(wrong)
        reason = f"{correct} of {len(view.tool_calls)} tool calls had correct arguments."
        if wrong:
            reason += " Incorrect: " + "; ".join(wrong)
        return Outcome(
            correct / len(view.tool_calls), reason, {"calls": len(view.tool_calls), "verdicts": verdicts}
        )
