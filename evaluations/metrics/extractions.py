"""Extraction steps several metrics share; each runs once per trace per run."""

from .base import STRING_LIST, Extraction
from .trace_view import TraceView


class TaskExtraction(Extraction):
    """The user's task, its constraints and the factual outcome (task_completion, tool_correctness,
    step_efficiency, plan_quality)."""

    name = "task"
    prompt_name = "extract_task"
    output_schema = {
        "type": "object",
        "properties": {"task": {"type": "string"}, "constraints": STRING_LIST, "outcome": {"type": "string"}},
        "required": ["task", "constraints", "outcome"],
        "additionalProperties": False,
    }


class PlanExtraction(Extraction):
    """The plan the agent stated in its own words (plan_adherence, plan_quality)."""

    name = "plan"
    prompt_name = "extract_plan"
    output_schema = {
        "type": "object",
        "properties": {"has_plan": {"type": "boolean"}, "steps": STRING_LIST, "evidence": {"type": "string"}},
        "required": ["has_plan", "steps", "evidence"],
        "additionalProperties": False,
    }

    def variables(self, view: TraceView, shared: dict) -> dict[str, str]:
        return {"trace": view.text, "reasoning": view.reasoning or "(the agent said nothing of its own)"}


EXTRACTIONS = {extraction.name: extraction for extraction in (TaskExtraction(), PlanExtraction())}


def task_variables(shared: dict) -> dict[str, str]:
    task = shared["task"]
    constraints = "; ".join(task["constraints"]) or "none stated"
    return {"task": task["task"], "constraints": constraints, "outcome": task["outcome"]}


def has_plan(shared: dict) -> bool:
    plan = shared["plan"]
    return bool(plan["has_plan"] and plan["steps"])


def plan_text(shared: dict) -> str:
    return "\n".join(f"{number}. {step}" for number, step in enumerate(shared["plan"]["steps"], start=1))
