"""The judge's trace metrics: one module each, and this registry of them; the session metrics' math."""

from .argument_correctness import ArgumentCorrectness
from .base import Extraction, Metric, Outcome
from .coherence import Coherence
from .confidence import Confidence
from .extractions import EXTRACTIONS
from .plan_adherence import PlanAdherence
from .plan_quality import PlanQuality
from .session import SESSION_METRICS, SessionMetric, TraceSignals
from .step_efficiency import StepEfficiency
from .task_completion import TaskCompletion
from .tool_correctness import ToolCorrectness
from .trace_view import TraceView, build_trace_view

TRACE_METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        TaskCompletion(), ToolCorrectness(), ArgumentCorrectness(), StepEfficiency(),
        PlanAdherence(), PlanQuality(), Confidence(), Coherence(),
    )
}  # fmt: skip


# The names as the OpenAPI document's enums (SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]).
TRACE_METRIC_NAMES = list(TRACE_METRICS)
SESSION_METRIC_NAMES = list(SESSION_METRICS)


def unknown_metrics(names: list[str]) -> list[str]:
    return [name for name in names if name not in TRACE_METRICS]


def unknown_session_metrics(names: list[str]) -> list[str]:
    return [name for name in names if name not in SESSION_METRICS]


def extractions_for(metrics: list[Metric]) -> list[Extraction]:
    """The shared extraction steps the metrics need, each once, in a fixed order."""
    needed = {name for metric in metrics for name in metric.requires}
    return [extraction for name, extraction in EXTRACTIONS.items() if name in needed]


__all__ = ["SESSION_METRICS", "TRACE_METRICS", "Extraction", "Metric", "Outcome", "SessionMetric",
           "TraceSignals", "TraceView", "build_trace_view", "extractions_for", "unknown_metrics",
           "unknown_session_metrics"]  # fmt: skip
