from .base import Metric, rubric_schema
from .extractions import task_variables
from .trace_view import TraceView


class TaskCompletion(Metric):
    """Extract the user's task and the factual outcome, then judge how fully the task was fulfilled."""

    name = "task_completion"
    description = "Evaluates whether the agent accomplished the user's stated objective."
    requires = ("task",)
    prompt_name = "task_completion"
    output_schema = rubric_schema(
        achieved={"type": "array", "items": {"type": "string"}},
        not_achieved={"type": "array", "items": {"type": "string"}},
    )

    def variables(self, view: TraceView, shared: dict) -> dict[str, str]:
        return {"trace": view.text, **task_variables(shared)}
