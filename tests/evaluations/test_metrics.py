"""The judge's metrics as pure functions: the trace view, prompt assembly, shortcuts and scoring."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from evaluations.metrics import TRACE_METRICS, build_trace_view, extractions_for, unknown_metrics
from evaluations.metrics.base import RATINGS, load_prompt
from evaluations.metrics.trace_view import cut

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def span(name, kind, *, parent=None, start=0, **fields):
    span_id = f"00000000-0000-0000-0000-{len(name):04d}{start:08d}"
    return {"span_id": span_id, "parent_span_id": parent, "name": name, "kind": kind, "status": "OK",
            "started_at": T0 + timedelta(seconds=start), "ended_at": T0 + timedelta(seconds=start + 1),
            **fields}  # fmt: skip


def support_trace(tool_calls=(("lookup_order", {"order": "PO-1"}),), plan_said="First I will look up the order."):
    root = span("agent", "AGENT", start=0)
    spans = [root, span("plan", "LLM", parent=root["span_id"], start=1,
                        output={"messages": [{"role": "assistant", "content": plan_said}]},
                        model_parameters={"tools": [{"type": "function", "function": {"name": "lookup_order"}},
                                                    {"type": "function", "function": {"name": "refund"}}]})]  # fmt: skip
    for offset, (name, arguments) in enumerate(tool_calls, start=2):
        spans.append(span(name, "TOOL", parent=root["span_id"], start=offset, input=arguments, output={"ok": True}))
    trace = {"name": "support", "status": "COMPLETED", "metadata": {},
             "input": {"messages": [{"role": "system", "content": "Be kind."},
                                    {"role": "user", "content": "Where is my order PO-1?"}]},
             "output": {"messages": [{"role": "assistant", "content": "It ships tomorrow."}]}}  # fmt: skip
    return build_trace_view(trace, spans)


def test_the_view_reads_the_users_request_the_answer_tools_and_reasoning():
    view = support_trace(tool_calls=[("lookup_order", {"order": "PO-1"}), ("refund", {"order": "PO-1"})])
    assert view.user_input == "Where is my order PO-1?"
    assert view.final_output == "It ships tomorrow."
    assert [(c.index, c.name) for c in view.tool_calls] == [(0, "lookup_order"), (1, "refund")]
    assert view.available_tools == ["lookup_order", "refund"]
    assert "First I will look up the order." in view.reasoning
    # The span tree in order, children indented under the agent.
    lines = view.text.splitlines()
    agent = next(i for i, line in enumerate(lines) if "AGENT agent" in line)
    lookup = next(i for i, line in enumerate(lines) if "TOOL lookup_order" in line)
    assert agent < lookup and lines[lookup].startswith("  [")


def test_a_long_trace_is_cut_to_the_budget_with_visible_markers():
    root = span("agent", "AGENT")
    spans = [root] + [span(f"step{i}", "TOOL", parent=root["span_id"], start=i, input={"q": "x" * 5000})
                      for i in range(1, 200)]  # fmt: skip
    view = build_trace_view({"name": "long", "status": "COMPLETED", "input": "hi", "output": "bye"}, spans,
                            token_budget=1000)  # fmt: skip
    assert len(view.text) <= 1000 * 4
    assert "characters cut]" in view.text and "steps left out to fit the token budget" in view.text
    assert view.text.startswith("Trace: long")


def test_cut_keeps_head_and_tail_and_says_how_much_went():
    text = "a" * 100 + "b" * 900 + "c" * 100
    shortened = cut(text, 300)
    assert shortened.startswith("a" * 100) and shortened.endswith("c" * 50) and "characters cut" in shortened
    assert cut("short", 300) == "short"


def test_every_metric_has_a_description_threshold_and_loadable_prompt():
    assert sorted(TRACE_METRICS) == sorted([
        "task_completion", "tool_correctness", "argument_correctness", "step_efficiency",
        "plan_adherence", "plan_quality", "confidence", "coherence",
    ])  # fmt: skip
    for metric in TRACE_METRICS.values():
        assert metric.description and 0 < metric.default_threshold < 1
        if not metric.embedding:
            assert metric.prompt.system and "$" not in metric.prompt.system
            assert metric.output_schema["additionalProperties"] is False


def test_prompts_are_assembled_with_the_trace_and_the_shared_extractions():
    view = support_trace()
    shared = {"task": {"task": "Find order PO-1", "constraints": ["be brief"], "outcome": "Ships tomorrow"},
              "plan": {"has_plan": True, "steps": ["Look up the order", "Answer"], "evidence": "First I"}}  # fmt: skip
    messages = TRACE_METRICS["task_completion"].messages(view, shared)
    assert messages[0]["role"] == "system" and "excellent" in messages[0]["content"]
    assert "Find order PO-1" in messages[1]["content"] and "be brief" in messages[1]["content"]
    assert "TOOL lookup_order" in messages[1]["content"]
    adherence = TRACE_METRICS["plan_adherence"].messages(view, shared)[1]["content"]
    assert "1. Look up the order\n2. Answer" in adherence
    tools = TRACE_METRICS["tool_correctness"].messages(view, shared)[1]["content"]
    assert "Available tools: lookup_order, refund" in tools and '[0] lookup_order({"order":"PO-1"})' in tools


def test_shared_extractions_are_asked_for_once_in_a_fixed_order():
    metrics = [TRACE_METRICS[n] for n in ("plan_quality", "task_completion", "plan_adherence", "coherence")]
    assert [e.name for e in extractions_for(metrics)] == ["task", "plan"]
    assert extractions_for([TRACE_METRICS["confidence"]]) == []
    assert unknown_metrics(["task_completion", "nope"]) == ["nope"]


@pytest.mark.parametrize("rating", list(RATINGS))
def test_rubric_metrics_score_the_rating(rating):
    outcome = TRACE_METRICS["step_efficiency"].score(
        {"redundant_steps": ["x"], "missing_steps": [], "reason": "why", "rating": rating}, support_trace(), {}
    )
    assert outcome.value == RATINGS[rating] and outcome.reason == "why"
    assert outcome.details["redundant_steps"] == ["x"]


def test_argument_correctness_is_the_share_of_yes_and_one_with_no_calls():
    metric = TRACE_METRICS["argument_correctness"]
    view = support_trace(tool_calls=[("lookup_order", {"o": 1}), ("refund", {"o": 1}), ("refund", {"o": 2})])
    outcome = metric.score({"verdicts": [
        {"index": 0, "verdict": "yes", "reason": "ok"}, {"index": 1, "verdict": "no", "reason": "wrong order"},
        {"index": 7, "verdict": "yes", "reason": "no such call"},
    ]}, view, {})  # fmt: skip
    # Call 2 got no verdict (index 7 does not exist): it is not counted as correct.
    assert outcome.value == pytest.approx(1 / 3)
    assert "1 of 3" in outcome.reason and "wrong order" in outcome.reason and "no verdict" in outcome.reason
    empty = metric.shortcut(support_trace(tool_calls=[]), {})
    assert empty.value == 1.0


def test_plan_metrics_score_one_without_a_plan_and_ask_the_judge_with_one():
    view = support_trace()
    no_plan = {"plan": {"has_plan": False, "steps": [], "evidence": ""}, "task": {"task": "t"}}
    with_plan = {"plan": {"has_plan": True, "steps": ["a"], "evidence": "e"}, "task": {"task": "t"}}
    for name in ("plan_adherence", "plan_quality"):
        assert TRACE_METRICS[name].shortcut(view, no_plan).value == 1.0
        assert TRACE_METRICS[name].shortcut(view, with_plan) is None


def test_confidence_is_lowered_by_repeated_identical_tool_calls():
    metric = TRACE_METRICS["confidence"]
    looping = support_trace(tool_calls=[("run_tests", {"k": "a"})] * 4 + [("run_tests", {"k": "b"})])
    answer = {"hedges": [], "contradictions": [], "reason": "Clear.", "rating": "excellent"}
    outcome = metric.score(answer, looping, {})
    assert outcome.value == pytest.approx(1.0 - 3 * 0.1) and outcome.details["repeated_calls"] == 3
    assert "3 repeated with identical arguments" in metric.messages(looping, {})[1]["content"]
    assert metric.score(answer, support_trace(), {}).value == 1.0


def test_coherence_is_the_clamped_cosine_of_input_and_output_embeddings():
    metric = TRACE_METRICS["coherence"]
    view = support_trace()
    assert metric.embedding_texts(view) == ("Where is my order PO-1?", "It ships tomorrow.")
    assert metric.score_embeddings([1.0, 0.0], [1.0, 0.0], view).value == 1.0
    assert metric.score_embeddings([1.0, 0.0], [0.6, 0.8], view).value == pytest.approx(0.6)
    assert metric.score_embeddings([1.0, 0.0], [-1.0, 0.0], view).value == 0.0
    silent = build_trace_view({"name": "x", "status": "ERROR", "input": "hi", "output": None}, [])
    assert metric.shortcut(silent, {}).value is None


def test_prompt_files_parse_into_system_and_user_parts():
    prompt = load_prompt("extract_task")
    assert prompt.id == "extract_task@v1"
    rendered = prompt.render(trace="THE TRACE")
    assert rendered[1]["content"].endswith("THE TRACE") and json.dumps(rendered)
