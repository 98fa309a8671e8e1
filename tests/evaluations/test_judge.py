"""The judge through litellm, over HTTP, against the OpenAI-compatible stub on 127.0.0.1."""

import jsonschema
import pytest

from evaluations import judge
from evaluations.metrics import TRACE_METRICS

SCHEMA = TRACE_METRICS["step_efficiency"].output_schema
MESSAGES = [{"role": "system", "content": "Judge."}, {"role": "user", "content": "The trace."}]


@pytest.fixture
def config(judge_stub, monkeypatch):
    monkeypatch.setattr(judge, "BACKOFF_SECONDS", 0.01)
    return judge.JudgeConfig.from_settings()


def test_a_chat_call_sends_the_schema_at_temperature_zero_and_reports_usage(config, judge_stub):
    judge_stub.answers["step_efficiency"] = {"rating": "good", "reason": "one extra call"}
    data, usage = judge.complete_json(config, MESSAGES, SCHEMA, "step_efficiency")
    assert data == {"redundant_steps": [], "missing_steps": [], "reason": "one extra call", "rating": "good"}
    (call,) = judge_stub.calls
    body = call["body"]
    assert body["temperature"] == 0 and body["model"] == "stub-judge"
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert usage.calls == 1 and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.latency_ms > 0 and usage.models == ["stub-judge"]


@pytest.mark.parametrize("failure", [429, 500, 503, "timeout"])
def test_rate_limits_server_errors_and_timeouts_are_retried(config, judge_stub, failure):
    judge_stub.failures.extend([failure])
    data, usage = judge.complete_json(config, MESSAGES, SCHEMA, "step_efficiency")
    assert data["rating"] == "excellent" and len(judge_stub.calls) == 2


def test_retries_give_up_with_a_judge_error(config, judge_stub):
    judge_stub.failures.extend([500] * 5)
    with pytest.raises(judge.JudgeError, match="after 3 attempts"):
        judge.complete_json(config, MESSAGES, SCHEMA, "step_efficiency")
    assert len(judge_stub.calls) == 3


def test_an_error_a_retry_cannot_fix_is_not_retried(config, judge_stub):
    judge_stub.failures.extend([401])
    with pytest.raises(judge.JudgeError):
        judge.complete_json(config, MESSAGES, SCHEMA, "step_efficiency")
    assert len(judge_stub.calls) == 1


def test_unparsable_output_gets_one_repair_attempt(config, judge_stub):
    judge_stub.failures.extend(["malformed"])
    data, usage = judge.complete_json(config, MESSAGES, SCHEMA, "step_efficiency")
    assert data["rating"] == "excellent" and usage.calls == 2
    repair = judge_stub.calls[1]["body"]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "this is not JSON {"}
    assert "not valid JSON" in repair[-1]["content"]


def test_output_off_the_schema_is_repaired_then_refused(config, judge_stub):
    judge_stub.answers["step_efficiency"] = {"rating": "superb"}  # not one of the enum's values
    with pytest.raises(judge.JudgeError, match="rating"):
        judge.complete_json(config, MESSAGES, SCHEMA, "step_efficiency")
    assert len(judge_stub.calls) == 2


def test_a_schema_is_checked_once_however_many_answers_follow_it(config, judge_stub, monkeypatch):
    checked = []
    check_schema = jsonschema.Draft202012Validator.check_schema.__func__
    monkeypatch.setattr(jsonschema.Draft202012Validator, "check_schema",
                        classmethod(lambda cls, schema, **kw: checked.append(schema) or check_schema(cls, schema, **kw)))  # fmt: skip
    judge._validator.cache_clear()
    for _ in range(3):
        judge.complete_json(config, MESSAGES, SCHEMA, "step_efficiency")
    assert checked == [SCHEMA] and len(judge_stub.calls) == 3


def test_a_malformed_schema_is_refused_before_any_answer_is_trusted():
    with pytest.raises(jsonschema.SchemaError):
        judge._parse(
            '{"rating": "good"}', {"type": "object", "properties": {"rating": {"type": "no-such-type"}}}
        )


def test_embeddings_come_back_in_order(config, judge_stub):
    vectors, usage = judge.embed(config, ["where is my order", "your order ships tomorrow"])
    assert len(vectors) == 2 and len(vectors[0]) == 64 and usage.calls == 1
    assert judge_stub.calls[0]["kind"] == "embedding" and judge_stub.calls[0]["body"]["model"] == "stub-embedding"


def test_an_unconfigured_judge_says_how_to_configure_one(settings):
    settings.PANDAPROBE_JUDGE_MODEL = ""
    assert "PANDAPROBE_JUDGE_MODEL" in judge.JudgeConfig.from_settings().problem()
    settings.PANDAPROBE_JUDGE_API_BASE, settings.PANDAPROBE_JUDGE_API_KEY = "", ""
    problem = judge.JudgeConfig.from_settings(model="openai/gpt-4o-mini").problem()
    if problem is not None:  # OPENAI_API_KEY may be set where the tests run
        assert "OPENAI_API_KEY" in problem


def test_a_model_without_a_provider_is_sent_as_openai_compatible(config):
    assert config.litellm_model("llama3") == "openai/llama3"
    assert config.litellm_model("anthropic/claude") == "anthropic/claude"


def test_usage_adds_up_and_an_unknown_price_stays_unknown():
    total = judge.Usage()
    total.add(judge.Usage(calls=1, prompt_tokens=10, completion_tokens=5, cost=0.001, latency_ms=100))
    total.add(judge.Usage(calls=1, prompt_tokens=20, completion_tokens=5, cost=None, latency_ms=50))
    assert (total.calls, total.prompt_tokens, total.cost, total.latency_ms) == (2, 30, None, 150)


def test_providers_report_what_is_configured(settings, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "x")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings.PANDAPROBE_JUDGE_API_BASE = "http://127.0.0.1:9/v1"
    statuses = {s["key"]: s for s in judge.provider_statuses()}
    assert statuses["anthropic"]["available"] and not statuses["openai"]["available"]
    assert "OPENAI_API_KEY" in statuses["openai"]["message"]
    assert statuses["openai_compatible"]["available"]


def _run_apart(coroutine):
    """`asyncio.run` in a thread of its own: a browser test's Playwright may have left an event loop
    running in this one."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=10)


def test_a_freed_judge_slot_goes_to_the_most_urgent_waiter_then_the_longest_waiting():
    import asyncio

    async def scenario() -> list[str]:
        slots, order, release = judge._Slots(1), [], asyncio.Event()

        async def holder():
            async with slots.held(0):
                await release.wait()

        async def waiter(name: str, urgency: int):
            async with slots.held(urgency):
                order.append(name)

        tasks = [asyncio.create_task(holder())]
        await asyncio.sleep(0)
        for name, urgency in (("first call A", 1), ("first call B", 1), ("metric call", 0)):
            tasks.append(asyncio.create_task(waiter(name, urgency)))
            await asyncio.sleep(0)  # each is waiting before the next arrives
        release.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        async with slots.held(1):  # every slot came back
            return order

    assert _run_apart(scenario()) == ["metric call", "first call A", "first call B"]


def test_a_waiter_cancelled_as_the_slot_is_handed_to_it_passes_the_slot_on():
    import asyncio

    async def scenario() -> bool:
        slots, release = judge._Slots(1), asyncio.Event()

        async def holder():
            async with slots.held(0):
                await release.wait()

        async def waiter():
            async with slots.held(0):
                pass

        held = asyncio.create_task(holder())
        await asyncio.sleep(0)
        doomed = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        release.set()
        await held  # the slot is handed to `doomed`, which has not resumed yet
        doomed.cancel()
        await asyncio.gather(doomed, return_exceptions=True)
        await asyncio.wait_for(waiter(), 1)  # the slot was passed on, not lost
        return slots.free == 1

    assert _run_apart(scenario())


def test_threads_asking_at_once_share_one_calls_loop(monkeypatch):
    """A worker's warm-up and its first messages ask for the calls loop together: a second loop
    would leave `_Slots` waiters on it unwoken (a worker hung that way on shutdown)."""
    import asyncio
    import threading
    import time

    new_event_loop = asyncio.new_event_loop

    def slow_new_event_loop():
        time.sleep(0.05)  # widen the window in which a second thread could start its own loop
        return new_event_loop()

    monkeypatch.setattr(judge.asyncio, "new_event_loop", slow_new_event_loop)
    calls_loop, start, loops = judge._CallsLoop(), threading.Barrier(8), []

    def ask():
        start.wait()
        loops.append(calls_loop.get())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    try:
        assert len(loops) == 8 and len({id(loop) for loop in loops}) == 1
    finally:
        for loop in {id(loop): loop for loop in loops}.values():
            loop.call_soon_threadsafe(loop.stop)
