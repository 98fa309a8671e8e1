"""Prompt previews for the run template: each stage's real prompt, rendered on a small sample trace."""

from .base import Metric
from .trace_view import build_trace_view

SAMPLE_TRACE = {
    "name": "support-agent", "status": "COMPLETED", "metadata": {},
    "input": {"messages": [{"role": "user", "content": "Where is my order PO-48213?"}]},
    "output": {"messages": [{"role": "assistant", "content": "PO-48213 left our warehouse today."}]},
}  # fmt: skip
SAMPLE_SPANS = [
    {"span_id": "a", "parent_span_id": None, "name": "support-agent", "kind": "AGENT", "status": "OK"},
    {"span_id": "b", "parent_span_id": "a", "name": "plan", "kind": "LLM", "status": "OK",
     "output": {"messages": [{"role": "assistant", "content": "First I will look the order up."}]}},
    {"span_id": "c", "parent_span_id": "a", "name": "lookup_order", "kind": "TOOL", "status": "OK",
     "input": {"order_id": "PO-48213"}, "output": {"status": "shipped"}},
]  # fmt: skip
SAMPLE_SHARED = {
    "task": {"task": "Find where order PO-48213 is.", "constraints": [], "outcome": "Told it shipped today."},
    "plan": {"has_plan": True, "steps": ["Look the order up", "Tell the user"], "evidence": "First I will"},
}  # fmt: skip


def _extractions(metric: Metric):
    from . import extractions_for  # the registry imports this module's neighbours

    return extractions_for([metric])


def _as_text(messages: list[dict]) -> str:
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)


def prompt_previews(metric: Metric) -> list[dict]:
    """`[{"stage", "prompt"}]`: the shared extractions the metric needs, then its own judge prompt."""
    view = build_trace_view(SAMPLE_TRACE, SAMPLE_SPANS)
    previews = [
        {"stage": extraction.prompt.id, "prompt": _as_text(extraction.messages(view, {}))}
        for extraction in _extractions(metric)
    ]
    if metric.embedding:
        first, second = metric.embedding_texts(view)
        previews.append({"stage": "embeddings", "prompt": f"Embeds the input:\n{first}\n\nand the output:\n{second}"})
    else:
        previews.append({"stage": metric.prompt.id, "prompt": _as_text(metric.messages(view, SAMPLE_SHARED))})
    return previews
