import math

from .base import Metric, Outcome
from .trace_view import TraceView, cut

# Embedding models take a few thousand tokens; the start of a long text carries its topic.
MAX_EMBED_CHARS = 8000


def cosine_similarity(first: list[float], second: list[float]) -> float:
    dot = sum(a * b for a, b in zip(first, second, strict=True))
    norms = math.sqrt(sum(a * a for a in first)) * math.sqrt(sum(b * b for b in second))
    return dot / norms if norms else 0.0


class Coherence(Metric):
    """1 − cosine distance between the embeddings of the trace's input and output (no chat call)."""

    name = "coherence"
    description = (
        "Evaluates whether the agent's output stays on the topic of its input (embedding similarity)."
    )
    embedding = True

    def shortcut(self, view: TraceView, shared: dict) -> Outcome | None:
        if not view.user_input.strip() or not view.final_output.strip():
            missing = "input" if not view.user_input.strip() else "output"
            return Outcome(None, f"The trace has no {missing} to compare.")
        return None

    def embedding_texts(self, view: TraceView) -> tuple[str, str]:
        return cut(view.user_input, MAX_EMBED_CHARS), cut(view.final_output, MAX_EMBED_CHARS)

    def score_embeddings(self, first: list[float], second: list[float], view: TraceView) -> Outcome:
        similarity = cosine_similarity(first, second)
        value = min(1.0, max(0.0, similarity))
        reason = f"Cosine similarity of the input and output embeddings is {similarity:.3f}."
        return Outcome(value, reason, {"cosine_similarity": similarity})
