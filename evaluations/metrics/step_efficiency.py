from .base import STRING_LIST, Metric, rubric_schema
from .trace_view import TraceView


class StepEfficiency(Metric):
    """Redundant or missing steps, on the 1 / .75 / .5 / .25 / 0 rubric."""

    name = "step_efficiency"
    description = "Evaluates whether the agent reached its result without redundant or missing steps."
    requires = ("task",)
    prompt_name = "step_efficiency"
    output_schema = rubric_schema(redundant_steps=STRING_LIST, missing_steps=STRING_LIST)

    def variables(self, view: TraceView, shared: dict) -> dict[str, str]:
        return {"trace": view.text, "task": shared["task"]["task"]}
