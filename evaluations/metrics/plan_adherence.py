from .base import STRING_LIST, Metric, Outcome, rubric_schema
from .extractions import has_plan, plan_text
from .trace_view import TraceView

NO_PLAN = "The agent stated no plan, so there was none to follow or to judge."


class PlanAdherence(Metric):
    """How faithfully the agent followed the plan it stated (1.0 when it stated none)."""

    name = "plan_adherence"
    description = "Evaluates whether the agent followed the plan it stated."
    requires = ("plan",)
    prompt_name = "plan_adherence"
    output_schema = rubric_schema(deviations=STRING_LIST)

    def shortcut(self, view: TraceView, shared: dict) -> Outcome | None:
        return None if has_plan(shared) else Outcome(1.0, NO_PLAN, {"has_plan": False})

    def variables(self, view: TraceView, shared: dict) -> dict[str, str]:
        return {"trace": view.text, "plan": plan_text(shared)}
