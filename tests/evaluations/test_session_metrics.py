"""The session metrics' math, checked against values worked out by hand from the issue's formulas.

Each expected value is written as the formula's arithmetic (weight · (1 − signal), ...), never taken
from the code under test; the comments give the numbers.
"""

import json
import math

import pytest

from evaluations.metrics import SESSION_METRICS, TRACE_METRICS, TraceSignals, unknown_session_metrics
from evaluations.metrics.session import (
    DEFAULT_SIGNAL_WEIGHTS,
    JUDGE_SIGNALS,
    SIGNALS,
    loop_detection,
    signal_weight_problems,
    signal_weights,
    top_k_count,
)

RELIABILITY = SESSION_METRICS["agent_reliability"]
CONSISTENCY = SESSION_METRICS["agent_consistency"]
KNOWN = "known: confidence, loop_detection, tool_correctness, coherence"


def trace(trace_id, confidence=None, loop=None, tool=None, coherence=None):
    return TraceSignals(trace_id, {"confidence": confidence, "loop_detection": loop,
                                   "tool_correctness": tool, "coherence": coherence})  # fmt: skip


# Three traces with every signal. Default weights: confidence 1.0, loop 1.0, tool 0.8, coherence 1.0.
T1 = trace("t1", confidence=0.9, loop=1.0, tool=0.75, coherence=0.85)
T2 = trace("t2", confidence=0.5, loop=0.9, tool=1.0, coherence=0.7)
T3 = trace("t3", confidence=0.25, loop=0.2, tool=0.5, coherence=0.9)


# --- the registry and the weights ------------------------------------------------------------------


def test_the_registry_holds_the_two_session_metrics_of_the_reference():
    assert {name: (m.category, m.description) for name, m in SESSION_METRICS.items()} == {
        "agent_reliability": ("session", "Evaluates worst-case failure risk across a session."),
        "agent_consistency": ("session", "Evaluates overall stability across a session."),
    }
    assert unknown_session_metrics(["agent_reliability", "task_completion", "nope"]) == [
        "task_completion",
        "nope",
    ]
    assert unknown_session_metrics(list(SESSION_METRICS)) == []


def test_judge_signals_are_trace_metrics_and_loop_detection_is_not():
    assert SIGNALS == ("confidence", "loop_detection", "tool_correctness", "coherence")
    assert set(JUDGE_SIGNALS) == {"confidence", "tool_correctness", "coherence"}
    assert all(name in TRACE_METRICS for name in JUDGE_SIGNALS)
    assert "loop_detection" not in TRACE_METRICS
    assert DEFAULT_SIGNAL_WEIGHTS == {"confidence": 1.0, "loop_detection": 1.0, "tool_correctness": 0.8,
                                      "coherence": 1.0}  # fmt: skip


def test_valid_weights_have_no_problems():
    assert signal_weight_problems(None) == []
    assert signal_weight_problems({}) == []
    assert signal_weight_problems({"confidence": 2, "loop_detection": 1.5, "coherence": 0}) == []


def test_each_bad_weight_gets_a_message_naming_it():
    problems = signal_weight_problems(
        {"foo": 1.0, "coherence": -0.1, "confidence": True, "loop_detection": "1.5", "tool_correctness": None}
    )
    assert problems == [
        f"signal_weights.foo: unknown signal; {KNOWN}",
        "signal_weights.coherence: must be >= 0",
        "signal_weights.confidence: must be a number, not bool",
        "signal_weights.loop_detection: must be a number, not str",
        "signal_weights.tool_correctness: must be a number, not NoneType",
    ]
    for not_finite in (float("nan"), float("inf"), -float("inf"), 10**400):
        assert signal_weight_problems({"coherence": not_finite}) == [
            "signal_weights.coherence: must be a finite number"
        ]
    assert signal_weight_problems({"coherence": {"nested": 1}}) == [
        "signal_weights.coherence: must be a number, not dict"
    ]
    assert signal_weight_problems([1.0]) == [
        "signal_weights: must be an object of weights by signal name, not list"
    ]


def test_weights_are_the_defaults_with_the_overrides():
    assert signal_weights(None) == DEFAULT_SIGNAL_WEIGHTS
    merged = signal_weights({"loop_detection": 1.5, "coherence": 0})
    assert merged == {"confidence": 1.0, "loop_detection": 1.5, "tool_correctness": 0.8, "coherence": 0.0}
    assert isinstance(merged["coherence"], float)
    # Invalid entries are skipped (the caller reports them first), and the defaults stay as they were.
    assert signal_weights({"foo": 3.0, "confidence": -1, "tool_correctness": True, "coherence": 10**400}) == (
        DEFAULT_SIGNAL_WEIGHTS
    )
    assert DEFAULT_SIGNAL_WEIGHTS["loop_detection"] == 1.0


# --- agent_reliability ------------------------------------------------------------------------------


def test_reliability_with_default_weights():
    # Risks are max over signals of w · (1 − s):
    #   t1: conf 1.0·0.1 = 0.1, loop 0, tool 0.8·0.25 = 0.2, coherence 1.0·0.15 = 0.15  -> 0.2 (tool)
    #   t2: conf 1.0·0.5 = 0.5, loop 0.1, tool 0, coherence 0.3                          -> 0.5 (conf)
    #   t3: conf 0.75, loop 1.0·0.8 = 0.8, tool 0.8·0.5 = 0.4, coherence 0.1             -> 0.8 (loop)
    # n = 3, k = max(1, ceil(0.45)) = 1; raw = 0.9·0.8 + 0.1·0.8 = 0.8; score = 1 − 0.8 = 0.2.
    outcome = RELIABILITY.score([T1, T2, T3], signal_weights(None))
    assert outcome.value == pytest.approx(1 - (0.9 * 0.8 + 0.1 * 0.8))
    rows = outcome.details["traces"]
    assert [row["trace_id"] for row in rows] == ["t1", "t2", "t3"]
    assert [row["risk"] for row in rows] == pytest.approx(
        [0.8 * (1 - 0.75), 1.0 * (1 - 0.5), 1.0 * (1 - 0.2)]
    )
    assert [row["worst_signal"] for row in rows] == ["tool_correctness", "confidence", "loop_detection"]
    assert rows[0]["signals"] == {"confidence": 0.9, "loop_detection": 1.0, "tool_correctness": 0.75,
                                  "coherence": 0.85}  # fmt: skip
    # t2's risk is exactly 0.5: not flagged (the threshold is "above 0.5").
    assert [row["flagged"] for row in rows] == [False, False, True]
    assert outcome.details["flagged_trace_ids"] == ["t3"]
    details = outcome.details
    assert (details["n"], details["k"], details["weights"]) == (3, 1, DEFAULT_SIGNAL_WEIGHTS)
    assert details["top_k_risks"] == pytest.approx([0.8])
    assert (details["mean_top_k"], details["max_risk"], details["raw"]) == pytest.approx((0.8, 0.8, 0.8))
    assert "t3 (loop_detection 0.20, risk 0.80)" in outcome.reason and "1 flagged" in outcome.reason
    json.dumps(details)  # stored as JSON by the run


def test_reliability_with_overridden_weights():
    weights = signal_weights({"loop_detection": 0.5, "coherence": 2.0})
    #   t1: conf 0.1, loop 0, tool 0.8·0.25 = 0.2, coherence 2.0·0.15 = 0.3     -> 0.3
    #   t2: conf 0.5, loop 0.5·0.1 = 0.05, tool 0, coherence 2.0·0.3 = 0.6     -> 0.6 (flagged now)
    #   t3: conf 0.75, loop 0.5·0.8 = 0.4, tool 0.4, coherence 2.0·0.1 = 0.2   -> 0.75
    # k = 1; raw = 0.9·0.75 + 0.1·0.75 = 0.75; score = 0.25.
    outcome = RELIABILITY.score([T1, T2, T3], weights)
    assert outcome.value == pytest.approx(1 - 0.75)
    assert [row["risk"] for row in outcome.details["traces"]] == pytest.approx(
        [2.0 * (1 - 0.85), 2.0 * (1 - 0.7), 1.0 * (1 - 0.25)]
    )
    assert outcome.details["flagged_trace_ids"] == ["t2", "t3"]
    assert outcome.details["weights"]["coherence"] == 2.0


def test_reliability_leaves_failed_signals_and_signalless_traces_out():
    t3_loop_failed = trace("t3", confidence=0.25, loop=None, tool=0.5, coherence=0.9)
    nothing = TraceSignals("t4", {})
    # t3 without its loop signal: conf 0.75, tool 0.8·0.5 = 0.4, coherence 0.1 -> 0.75 (was 0.8 with it).
    # t4 has no usable signal: not counted, so n = 2 (t1 0.2, t3 0.75), k = 1, raw = 0.75.
    outcome = RELIABILITY.score([T1, t3_loop_failed, nothing], signal_weights(None))
    assert outcome.value == pytest.approx(1 - 0.75)
    assert outcome.details["n"] == 2
    row = outcome.details["traces"][1]
    assert row["signals"]["loop_detection"] is None and "loop_detection" not in row["signal_risks"]
    assert (row["worst_signal"], row["risk"]) == ("confidence", pytest.approx(0.75))
    assert outcome.details["traces"][2] == {
        "trace_id": "t4", "signals": dict.fromkeys(SIGNALS), "signal_risks": {}, "risk": None,
        "worst_signal": None, "flagged": False,
    }  # fmt: skip


def test_reliability_of_a_one_trace_session_at_exactly_the_flag_threshold():
    # t2 alone: risk 0.5, k = 1, raw = 0.9·0.5 + 0.1·0.5 = 0.5, score 0.5; 0.5 is not above 0.5.
    outcome = RELIABILITY.score([T2], signal_weights(None))
    assert outcome.value == pytest.approx(0.5)
    assert (outcome.details["n"], outcome.details["k"], outcome.details["flagged_trace_ids"]) == (1, 1, [])
    # A hair above the threshold is flagged.
    above = RELIABILITY.score([trace("t", confidence=0.49)], signal_weights(None))
    assert above.details["flagged_trace_ids"] == ["t"]


@pytest.mark.parametrize(
    "traces",
    [[], [TraceSignals("a", dict.fromkeys(SIGNALS)), TraceSignals("b", {})]],
    ids=["empty session", "only failed signals"],
)
def test_a_session_without_usable_traces_scores_one(traces):
    reliability = RELIABILITY.score(traces, signal_weights(None))
    assert reliability.value == 1.0 and reliability.details["n"] == 0 and reliability.details["raw"] is None
    assert reliability.details["flagged_trace_ids"] == []
    consistency = CONSISTENCY.score(traces, signal_weights(None))
    assert consistency.value == 1.0 and consistency.details["n"] == 0
    assert consistency.details["mean_u_squared"] is None
    assert len(reliability.details["traces"]) == len(consistency.details["traces"]) == len(traces)


def test_weights_of_zero_make_every_shortfall_count_for_nothing():
    zero = signal_weights(dict.fromkeys(SIGNALS, 0))
    reliability = RELIABILITY.score([T1, T2, T3], zero)
    # Every risk is 0 · (1 − s) = 0: the traces still count (n = 3), the score is 1 − 0 = 1.
    assert reliability.value == 1.0 and reliability.details["n"] == 3
    assert reliability.details["flagged_trace_ids"] == []
    # Consistency: u = (1 + 0) · 0 · (1 − confidence) = 0 for every trace.
    assert CONSISTENCY.score([T1, T2, T3], zero).value == 1.0
    # Only confidence weighted 0: reliability now ignores t3's confidence 0.25 and reads its loop 0.8.
    no_confidence = RELIABILITY.score([T2, T3], signal_weights({"confidence": 0}))
    # t2: loop 0.1, coherence 0.3 -> 0.3; t3: loop 0.8 -> 0.8; k = 1, score = 1 − 0.8.
    assert no_confidence.value == pytest.approx(1 - 0.8)


@pytest.mark.parametrize(("n", "k"), [(1, 1), (6, 1), (7, 2), (14, 3), (20, 3), (21, 4)])
def test_k_is_fifteen_percent_of_the_traces_rounded_up(n, k):
    # ceil(0.15·1) = ceil(0.15) = 1, ceil(0.9) = 1, ceil(1.05) = 2, ceil(2.1) = 3, ceil(3.0) = 3, ceil(3.15) = 4
    assert top_k_count(n) == k


def test_reliability_with_seven_traces_averages_the_top_two():
    confidences = [1.0, 0.9, 0.8, 0.7, 0.6, 0.3, 0.4]
    traces = [trace(f"t{i}", confidence=c) for i, c in enumerate(confidences, start=1)]
    # Risks 1 − c: 0, 0.1, 0.2, 0.3, 0.4, 0.7, 0.6. k = ceil(1.05) = 2: top [0.7, 0.6], mean 0.65.
    # raw = 0.9·0.65 + 0.1·0.7 = 0.585 + 0.07 = 0.655; score = 0.345.
    outcome = RELIABILITY.score(traces, signal_weights(None))
    assert outcome.value == pytest.approx(0.345)
    assert outcome.details["k"] == 2 and outcome.details["top_k_risks"] == pytest.approx([0.7, 0.6])
    assert outcome.details["mean_top_k"] == pytest.approx(0.65) and outcome.details["raw"] == pytest.approx(
        0.655
    )
    assert outcome.details["flagged_trace_ids"] == ["t6", "t7"]
    assert "the 2 riskiest of 7 traces, worst first: t6 (confidence 0.30, risk 0.70), t7" in outcome.reason


@pytest.mark.parametrize(
    ("n", "risky", "expected"),
    [
        # n = 6, k = 1: risks 0.6, 0.4, 0.3 and zeros; raw = 0.9·0.6 + 0.1·0.6 = 0.6.
        (6, [0.6, 0.4, 0.3], 1 - 0.6),
        # n = 14, k = 3: top [0.6, 0.5, 0.4] (0.3 left out), mean 0.5; raw = 0.9·0.5 + 0.1·0.6 = 0.51.
        (14, [0.6, 0.5, 0.4, 0.3], 1 - (0.9 * (0.6 + 0.5 + 0.4) / 3 + 0.1 * 0.6)),
    ],
)
def test_reliability_averages_exactly_k_risks(n, risky, expected):
    risks = risky + [0.0] * (n - len(risky))
    traces = [trace(f"t{i}", confidence=1 - risk) for i, risk in enumerate(risks)]
    assert RELIABILITY.score(traces, signal_weights(None)).value == pytest.approx(expected)


def test_reliability_is_clamped_at_zero_when_weights_push_risk_past_one():
    # confidence 0 weighted 2: risk 2.0·1 = 2.0; raw 2.0; 1 − 2.0 = −1.0 -> 0.
    outcome = RELIABILITY.score([trace("t", confidence=0.0)], signal_weights({"confidence": 2}))
    assert outcome.value == 0.0 and outcome.details["raw"] == pytest.approx(2.0)


# --- agent_consistency ------------------------------------------------------------------------------

A = trace("a", confidence=0.9, loop=1.0, tool=1.0, coherence=0.9)
B = trace("b", confidence=0.8, loop=0.9, tool=0.75, coherence=1.0)
C = trace("c", confidence=0.7, loop=1.0, tool=1.0, coherence=1.0)


def test_consistency_with_default_weights():
    # u = (1 + loop 1.0·(1 − l) + tool 0.8·(1 − t) + coherence 1.0·(1 − h)) · 1.0 · (1 − confidence)
    u_a = (1 + 1.0 * 0.0 + 0.8 * 0.0 + 1.0 * 0.1) * 1.0 * 0.1  # 1.1 · 0.1 = 0.11
    u_b = (1 + 1.0 * 0.1 + 0.8 * 0.25 + 1.0 * 0.0) * 1.0 * 0.2  # 1.3 · 0.2 = 0.26
    u_c = (1 + 0.0 + 0.0 + 0.0) * 1.0 * 0.3  # 0.3
    # mean(u²) = (0.0121 + 0.0676 + 0.09) / 3 = 0.056567; sqrt = 0.237837; score = 0.762163
    outcome = CONSISTENCY.score([A, B, C], signal_weights(None))
    assert outcome.value == pytest.approx(1 - math.sqrt((u_a**2 + u_b**2 + u_c**2) / 3))
    assert outcome.value == pytest.approx(0.762163, abs=1e-6)
    assert outcome.value != round(outcome.value, 2)  # rounded for display only
    rows = outcome.details["traces"]
    assert [row["u"] for row in rows] == pytest.approx([0.11, 0.26, 0.3])
    assert [row["multiplier"] for row in rows] == pytest.approx([1.1, 1.3, 1.0])
    assert rows[1]["signal_shortfalls"] == pytest.approx({"loop_detection": 0.1, "tool_correctness": 0.2,
                                                          "coherence": 0.0})  # fmt: skip
    assert outcome.details["n"] == 3 and outcome.details["mean_u_squared"] == pytest.approx(0.1697 / 3)
    assert outcome.reason.startswith("Instability 0.24") and "c (confidence 0.70" in outcome.reason
    json.dumps(outcome.details)


def test_consistency_with_overridden_weights():
    weights = signal_weights({"confidence": 2.0, "tool_correctness": 0.0})
    u_a = (1 + 0.0 + 0.0 * 0.0 + 1.0 * 0.1) * 2.0 * 0.1  # 1.1 · 0.2 = 0.22
    u_b = (1 + 1.0 * 0.1 + 0.0 * 0.25 + 0.0) * 2.0 * 0.2  # 1.1 · 0.4 = 0.44
    u_c = 1.0 * 2.0 * 0.3  # 0.6
    # mean(u²) = (0.0484 + 0.1936 + 0.36) / 3 = 0.200667; sqrt = 0.447959; score = 0.552041
    outcome = CONSISTENCY.score([A, B, C], weights)
    assert outcome.value == pytest.approx(1 - math.sqrt((u_a**2 + u_b**2 + u_c**2) / 3))
    assert outcome.value == pytest.approx(0.552041, abs=1e-6)


def test_consistency_leaves_failed_signals_and_traces_without_confidence_out():
    b_tool_failed = trace("b", confidence=0.8, loop=0.9, tool=None, coherence=1.0)
    d_no_confidence = trace("d", confidence=None, loop=0.0, tool=0.0, coherence=0.0)
    u_a = 1.1 * 0.1  # as above: 0.11
    u_b = (1 + 1.0 * 0.1 + 1.0 * 0.0) * 1.0 * 0.2  # tool left out: 1.1 · 0.2 = 0.22
    # d has no confidence: not counted, whatever its other signals. n = 2.
    # mean(u²) = (0.0121 + 0.0484) / 2 = 0.03025; sqrt = 0.173925; score = 0.826075
    outcome = CONSISTENCY.score([A, b_tool_failed, d_no_confidence], signal_weights(None))
    assert outcome.value == pytest.approx(1 - math.sqrt((u_a**2 + u_b**2) / 2))
    assert outcome.details["n"] == 2 and outcome.details["traces"][2]["u"] is None
    assert "tool_correctness" not in outcome.details["traces"][1]["signal_shortfalls"]


def test_consistency_of_one_trace_and_its_clamp_at_zero():
    # c alone: u = 0.3, sqrt(0.09) = 0.3, score 0.7.
    assert CONSISTENCY.score([C], signal_weights(None)).value == pytest.approx(0.7)
    # Everything at 0: u = (1 + 1.0 + 0.8 + 1.0) · 1.0 · 1.0 = 3.8; 1 − 3.8 < 0 -> 0.
    worst = CONSISTENCY.score([trace("w", 0.0, 0.0, 0.0, 0.0)], signal_weights(None))
    assert worst.value == 0.0 and worst.details["traces"][0]["u"] == pytest.approx(3.8)
    # A perfect trace: u = 1 · 0 = 0, score 1.
    assert CONSISTENCY.score([trace("p", 1.0, 1.0, 1.0, 1.0)], signal_weights(None)).value == 1.0


# --- loop detection ---------------------------------------------------------------------------------

X = [1.0, 0.0]
NEAR_X = [0.96, 0.28]  # unit length; cosine with X = 0.96
Y = [0.6, 0.8]  # unit length; cosine with X = 0.6
Z = [0.0, 1.0]  # orthogonal to X


REPEATING = [
    ("Let me retry the search.", X),
    ("let me retry the SEARCH!", NEAR_X),
    ("Let me retry the search", X),
]
MOVING_ON = [("The order ships tomorrow.", X), ("The refund ships today.", Y), ("Your account is closed.", Z)]


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        # Same words (Jaccard 1). Trace 2 vs 1: 1 − 0.96·1 = 0.04. Trace 3: max(cos(X, X) = 1, 0.96) -> 1 − 1 = 0.
        (REPEATING, [1.0, 1 - 0.96 * 1, 1 - 1.0 * 1]),
        # Trace 2 vs 1: cos 0.6; words {the, refund, ships, today} vs {the, order, ships, tomorrow} share 2 of
        # 6, Jaccard 1/3; similarity 0.6 · 1/3 = 0.2, signal 0.8. Trace 3 shares no word: Jaccard 0, signal 1.
        (MOVING_ON, [1.0, 1 - 0.6 * (2 / 6), 1.0]),
    ],
    ids=["repeats itself: near 0", "moves on: near 1"],
)
def test_loop_detection_sees_a_session_repeat_itself(outputs, expected):
    assert loop_detection(outputs) == pytest.approx(expected)


def test_the_window_is_the_three_previous_outputs():
    a, b, c, d = "alpha answer", "beta reply", "gamma result", "delta output"
    # The 5th trace repeats the 1st, four back: outside the window, so 1.0.
    assert loop_detection([(a, X), (b, X), (c, X), (d, X), (a, X)])[4] == 1.0
    # Control: the 4th trace repeats the 1st, three back: inside the window, so 0.
    assert loop_detection([(a, X), (b, X), (c, X), (a, X)])[3] == pytest.approx(0.0)


def test_loop_detection_with_failed_embeddings_and_opposite_ones():
    # The first trace needs no embedding; a trace without one has no signal; a previous trace without one
    # is skipped (trace 3 is compared with trace 1 only), and with nothing comparable the signal is None.
    same = "the same words"
    assert loop_detection([(same, None), (same, X), (same, X)]) == [1.0, None, pytest.approx(0.0)]
    assert loop_detection([(same, X), (same, None), (same, Y)]) == [1.0, None, pytest.approx(1 - 0.6)]
    # A negative cosine is clamped to 0: the same words pointing the other way are not a repeat (1 − 0 · 1).
    assert loop_detection([(same, [1.0, 0.0]), (same, [-1.0, 0.0])]) == [1.0, 1.0]
    assert loop_detection([]) == []


def test_an_output_without_words_neither_is_nor_makes_a_repeat():
    # Jaccard with an empty word set is 0, so the similarity is 0 and the signal 1.
    assert loop_detection([("", X), ("", X), ("...", X), (None, X)]) == [1.0, 1.0, 1.0, 1.0]
    assert loop_detection([("", X), ("Done.", X), ("done", X)]) == [1.0, 1.0, pytest.approx(0.0)]
