from .base import STRING_LIST, Metric, Outcome, rubric_schema
from .extractions import has_plan, plan_text
from .plan_adherence import NO_PLAN
from .trace_view import TraceView


class PlanQuality(Metric):
    """How good the agent's stated plan was for the task (1.0 when it stated none)."""

    name = "plan_quality"
    description = "Evaluates whether the plan the agent stated was complete, ordered and feasible."
    requires = ("plan", "task")
    prompt_name = "plan_quality"
    output_schema = rubric_schema(issues=STRING_LIST)

    def shortcut(self, view: TraceView, shared: dict) -> Outcome | None:
        return None if has_plan(shared) else Outcome(1.0, NO_PLAN, {"has_plan": False})

    def variables(self, view: TraceView, shared: dict) -> dict[str, str]:
        available = ", ".join(view.available_tools) or "not recorded"
        return {"task": shared["task"]["task"], "plan": plan_text(shared), "available_tools": available}
