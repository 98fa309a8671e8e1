"""The session metrics: deterministic math over per-trace signals, no judge call.

A session run scores each trace's signals first (the judge's `confidence` and `tool_correctness`, the
embedding metric `coherence`, and `loop_detection`, which only a session can measure), then hands them
here. A signal that failed is None and left out of the aggregation. Like the trace metrics, nothing
here touches the database or litellm.
"""

import math
import re
from dataclasses import dataclass
from numbers import Real

from .base import Outcome
from .coherence import Coherence, cosine_similarity
from .confidence import Confidence
from .tool_correctness import ToolCorrectness

SIGNALS: tuple[str, ...] = ("confidence", "loop_detection", "tool_correctness", "coherence")
"""Every per-trace signal the session metrics read, in the order details list them."""

JUDGE_SIGNALS: tuple[str, ...] = (Confidence.name, ToolCorrectness.name, Coherence.name)
"""The signals that are trace metrics (`TRACE_METRICS`): a run scores them like any trace metric."""

DEFAULT_SIGNAL_WEIGHTS: dict[str, float] = {
    "confidence": 1.0,
    "loop_detection": 1.0,
    "tool_correctness": 0.8,
    "coherence": 1.0,
}
"""How much a shortfall in each signal counts; a request's `signal_weights` overrides them."""

LOOP_WINDOW = 3  # how many previous outputs a trace's output is compared with
FLAG_RISK = 0.5  # a trace whose risk is above this (not equal) is flagged
TOP_K_SHARE = 0.15  # the share of the riskiest traces agent_reliability averages
TOP_K_WEIGHT = 0.9  # raw risk = 0.9 · mean(top-k risks) + 0.1 · max risk
REASON_TRACES = 3  # a reason names at most this many traces; details list them all
WORD = re.compile(r"\w+")


def signal_weight_problems(overrides: dict | None) -> list[str]:
    """What is wrong with a request's `signal_weights`: [] when fine, else one message per bad entry,
    naming it (`signal_weights.<name>: ...`). A weight is a finite number >= 0; a bool is not a number."""
    if overrides is None:
        return []
    if not isinstance(overrides, dict):
        return [
            f"signal_weights: must be an object of weights by signal name, not {type(overrides).__name__}"
        ]
    return [f"signal_weights.{name}: {problem}" for name, weight in overrides.items()
            if (problem := _weight_problem(name, weight))]  # fmt: skip


def _weight_problem(name: str, weight: object) -> str | None:
    if name not in SIGNALS:
        return f"unknown signal; known: {', '.join(SIGNALS)}"
    # JSON true is a Python bool, which is an int: it is not a weight.
    if isinstance(weight, bool) or not isinstance(weight, Real):
        return f"must be a number, not {type(weight).__name__}"
    try:
        finite = math.isfinite(weight)
    except OverflowError:  # a JSON integer too large for a float
        finite = False
    if not finite:
        return "must be a finite number"
    if weight < 0:
        return "must be >= 0"
    return None


def signal_weights(overrides: dict | None) -> dict[str, float]:
    """The default weights with the valid overrides applied (check `signal_weight_problems` first:
    an invalid entry is skipped here, not reported)."""
    weights = dict(DEFAULT_SIGNAL_WEIGHTS)
    if isinstance(overrides, dict):
        for name, weight in overrides.items():
            if _weight_problem(name, weight) is None:
                weights[name] = float(weight)
    return weights


@dataclass(frozen=True)
class TraceSignals:
    """One trace of a session and its signals by name; None (or a missing name) is a signal that failed
    or could not be measured, and is left out. Names outside `SIGNALS` are ignored."""

    trace_id: str
    signals: dict[str, float | None]

    def all_signals(self) -> dict[str, float | None]:
        """Every signal in `SIGNALS` order, None where it failed or is missing."""
        return {name: self.signals.get(name) for name in SIGNALS}

    def usable(self) -> dict[str, float]:
        """The signals that were measured, in `SIGNALS` order."""
        return {name: self.signals[name] for name in SIGNALS if self.signals.get(name) is not None}


# --- loop detection ---------------------------------------------------------------------------------


def clamp_unit(value: float) -> float:
    return min(1.0, max(0.0, value))


def word_tokens(text: str) -> set[str]:
    """The lower-cased word tokens of a text, as a set."""
    return set(WORD.findall(text.lower()))


def token_jaccard(first: set[str], second: set[str]) -> float:
    """|A ∩ B| / |A ∪ B|; 0.0 when either side has no words: an empty answer repeats nothing (an agent
    that answers nothing is caught by its confidence, not taken for a loop)."""
    if not first or not second:
        return 0.0
    return len(first & second) / len(first | second)


def loop_detection(outputs: list[tuple[str, list[float] | None]]) -> list[float | None]:
    """The `loop_detection` signal of each trace of a session, in session order.

    `outputs` holds each trace's output text (None counts as empty) and its embedding (None if
    embedding failed). A trace is compared with the previous `LOOP_WINDOW` outputs: similarity = max
    over them of clamp(cosine, 0, 1) × token-Jaccard, and the signal is 1 − similarity (0 = a repeat).

    - The first trace has nothing before it: 1.0, whatever its embedding.
    - A trace whose embedding failed: None (left out of the aggregation).
    - A previous output whose embedding failed is skipped; if all in the window were, None (no
      evidence either way), though the window still ends 3 traces back.
    - An output with no words (empty, or only punctuation) has Jaccard 0 with anything: it neither is
      nor makes a repeat, so its own signal is 1.0.
    """
    tokens = [word_tokens(text or "") for text, _ in outputs]
    signals: list[float | None] = []
    for index, (_, embedding) in enumerate(outputs):
        if index == 0:
            signals.append(1.0)
            continue
        window = range(max(0, index - LOOP_WINDOW), index)
        comparable = [j for j in window if outputs[j][1] is not None]
        if embedding is None or not comparable:
            signals.append(None)
            continue
        similarity = max(
            clamp_unit(cosine_similarity(embedding, outputs[j][1])) * token_jaccard(tokens[index], tokens[j])
            for j in comparable
        )
        signals.append(1.0 - similarity)
    return signals


# --- aggregation ------------------------------------------------------------------------------------


def shortfalls(signals: dict[str, float], weights: dict[str, float]) -> dict[str, float]:
    """w · (1 − s) for each usable signal: how far a signal falls short of perfect, weighted."""
    return {name: weights[name] * (1.0 - value) for name, value in signals.items()}


def top_k_count(n: int) -> int:
    """How many of the riskiest traces agent_reliability averages: k = max(1, ceil(0.15 · n))."""
    return max(1, math.ceil(TOP_K_SHARE * n))


@dataclass(frozen=True)
class SessionMetric:
    """A session metric: aggregates per-trace signals into one value in [0, 1], with no judge call.

    `version` names the math: a change to a formula or its constants is a new version, so scores of
    different versions are not compared as if alike.
    """

    name: str
    description: str
    category: str = "session"
    default_threshold: float = 0.5
    version: str = "v1"

    def score(self, traces: list[TraceSignals], weights: dict[str, float]) -> Outcome:
        """The outcome of a session's traces (in session order) under `weights` (as `signal_weights`
        returns them; a missing name takes its default)."""
        raise NotImplementedError


class AgentReliability(SessionMetric):
    """Worst-case failure risk: a trace's risk is its worst weighted shortfall, max over its signals of
    w · (1 − s); k = max(1, ceil(0.15 · n)); raw = 0.9 · mean(top-k risks) + 0.1 · max risk; the value is
    clamp(1 − raw, 0, 1). Traces with risk > 0.5 are flagged. No usable trace: 1.0."""

    def score(self, traces: list[TraceSignals], weights: dict[str, float]) -> Outcome:
        weights = {**DEFAULT_SIGNAL_WEIGHTS, **weights}
        rows = [_reliability_row(trace, weights) for trace in traces]
        risks = [row["risk"] for row in rows if row["risk"] is not None]
        flagged = [row["trace_id"] for row in rows if row["flagged"]]
        details = {"weights": weights, "traces": rows, "n": len(risks), "flagged_trace_ids": flagged}
        if not risks:
            details.update(k=0, top_k_risks=[], mean_top_k=None, max_risk=None, raw=None)
            return Outcome(1.0, "No trace has a usable signal, so there is no risk to measure.", details)
        k = top_k_count(len(risks))
        top = sorted(risks, reverse=True)[:k]
        mean_top, max_risk = sum(top) / k, top[0]
        raw = TOP_K_WEIGHT * mean_top + (1 - TOP_K_WEIGHT) * max_risk
        details.update(k=k, top_k_risks=top, mean_top_k=mean_top, max_risk=max_risk, raw=raw)
        return Outcome(clamp_unit(1.0 - raw), _reliability_reason(rows, k, raw, flagged), details)


def _reliability_row(trace: TraceSignals, weights: dict[str, float]) -> dict:
    signals = trace.usable()
    risks = shortfalls(signals, weights)
    worst = max(risks, key=risks.get) if risks else None
    risk = None if worst is None else risks[worst]
    return {"trace_id": trace.trace_id, "signals": trace.all_signals(),
            "signal_risks": risks, "risk": risk, "worst_signal": worst,
            "flagged": risk is not None and risk > FLAG_RISK}  # fmt: skip


def _reliability_reason(rows: list[dict], k: int, raw: float, flagged: list[str]) -> str:
    ranked = sorted((row for row in rows if row["risk"] is not None), key=lambda row: -row["risk"])
    worst = ", ".join(
        f"{row['trace_id']} ({row['worst_signal']} {row['signals'][row['worst_signal']]:.2f}, "
        f"risk {row['risk']:.2f})"
        for row in ranked[: min(k, REASON_TRACES)]
    )
    return (f"Risk {raw:.2f} from the {k} riskiest of {len(ranked)} traces, worst first: {worst}; "
            f"{len(flagged)} flagged with risk above {FLAG_RISK}.")  # fmt: skip


class AgentConsistency(SessionMetric):
    """Overall stability, over the traces with a confidence signal: u = (1 + Σ w · (1 − s) over
    loop_detection, tool_correctness and coherence) · w_confidence · (1 − confidence); the value is
    clamp(1 − sqrt(mean(u²)), 0, 1). No trace with a confidence signal: 1.0."""

    def score(self, traces: list[TraceSignals], weights: dict[str, float]) -> Outcome:
        weights = {**DEFAULT_SIGNAL_WEIGHTS, **weights}
        rows = [_consistency_row(trace, weights) for trace in traces]
        used = [row for row in rows if row["u"] is not None]
        details = {"weights": weights, "traces": rows, "n": len(used)}
        if not used:
            details.update(mean_u_squared=None, rms_u=None)
            return Outcome(1.0, "No trace has a confidence signal, so there is no instability to measure.",
                           details)  # fmt: skip
        mean_u_squared = sum(row["u"] ** 2 for row in used) / len(used)
        rms = math.sqrt(mean_u_squared)
        details.update(mean_u_squared=mean_u_squared, rms_u=rms)
        worst = sorted(used, key=lambda row: -row["u"])[:REASON_TRACES]
        named = ", ".join(f"{row['trace_id']} (confidence {row['signals']['confidence']:.2f}, other signals "
                          f"×{row['multiplier']:.2f}, u {row['u']:.2f})" for row in worst)  # fmt: skip
        reason = f"Instability {rms:.2f} (root mean square of u over {len(used)} traces), worst: {named}."
        return Outcome(clamp_unit(1.0 - rms), reason, details)


def _consistency_row(trace: TraceSignals, weights: dict[str, float]) -> dict:
    gaps = shortfalls(trace.usable(), weights)
    confidence_gap = gaps.pop("confidence", None)
    multiplier = 1.0 + sum(gaps.values())
    u = None if confidence_gap is None else multiplier * confidence_gap
    return {"trace_id": trace.trace_id, "signals": trace.all_signals(),
            "signal_shortfalls": gaps, "multiplier": multiplier, "confidence_shortfall": confidence_gap,
            "u": u}  # fmt: skip


SESSION_METRICS: dict[str, SessionMetric] = {
    metric.name: metric
    for metric in (
        AgentReliability(name="agent_reliability",
                         description="Evaluates worst-case failure risk across a session."),
        AgentConsistency(name="agent_consistency",
                         description="Evaluates overall stability across a session."),
    )
}  # fmt: skip
"""The session metrics by name."""
