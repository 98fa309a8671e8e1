"""The LLM judge: the only module that imports litellm.

Chat completions answer with JSON that follows a schema (`response_format`), at temperature 0, with
timeouts, retries with backoff on rate limits, server errors and timeouts, and one repair attempt
when the answer does not parse or does not follow the schema. Embeddings serve the coherence
metric. Every call reports its usage: tokens, cost (when litellm knows the model's price) and latency.

Calls are made by litellm's async API on one event loop per process (`_CallsLoop`), which the
callers' threads wait on: measured in the runs benchmark, a call made that way took 12.7 ms of CPU
against 17.5 ms for `litellm.completion` from 32 threads, on the same stub, at the same concurrency.

Configuration: the model per run or `PANDAPROBE_JUDGE_MODEL`; `PANDAPROBE_JUDGE_API_BASE` and
`PANDAPROBE_JUDGE_API_KEY` point it at any OpenAI-compatible server (vLLM, Ollama, LM Studio);
litellm's own provider variables (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, ...) work too.
"""

import asyncio
import gc
import heapq
import itertools
import json
import logging
import os
import random
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cache, lru_cache

import jsonschema
from django.conf import settings

# Retries wait BACKOFF_SECONDS * 2**attempt (with jitter), or what the server's Retry-After says,
# never more than MAX_BACKOFF_SECONDS.
BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 20.0
REPAIR_PROMPT = (
    "Your reply could not be used: {problem}. Reply again with only a JSON object that follows the "
    "schema you were given, and nothing else."
)


class JudgeError(Exception):
    """A judge call failed for good (after retries, or on an error retrying cannot fix)."""


class JudgeNotConfigured(JudgeError):
    """No model, or no credentials for it: the message says how to configure one."""


@cache
def _litellm():
    # litellm otherwise downloads its price table at import; this machine, and many deployments,
    # cannot reach it. Imported on first use: it takes seconds, which pages and the API never pay.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    logging.getLogger("LiteLLM").setLevel(logging.WARNING)
    litellm.telemetry = False
    litellm.suppress_debug_info = True
    litellm.drop_params = True  # a provider that lacks a parameter (seed, ...) ignores it
    return litellm


class _CallsLoop:
    """This process's one event loop for judge calls, started by the first thread that needs it.

    Started under a lock: a worker's first messages and its warm-up ask for it at once, and a second
    loop would break `_Slots`, whose waiters are woken by the loop they wait on (a call released on
    one loop left a waiter on another asleep for good, and its worker hung on shutdown). A forked
    process starts its own: the thread that runs its parent's loop did not come with it."""

    def __init__(self):
        self.lock, self.loop, self.pid = threading.Lock(), None, None

    def get(self) -> asyncio.AbstractEventLoop:
        if self.pid != os.getpid():
            with self.lock:
                if self.pid != os.getpid():
                    loop = asyncio.new_event_loop()
                    threading.Thread(target=loop.run_forever, daemon=True, name="judge-calls").start()
                    self.loop, self.pid = loop, os.getpid()
        return self.loop

    def after_fork(self) -> None:
        self.lock = threading.Lock()  # another thread may have held it as the process forked


_CALLS_LOOP = _CallsLoop()
os.register_at_fork(after_in_child=_CALLS_LOOP.after_fork)


def _await(coroutine):
    """Run `coroutine` on the calls loop and wait in this thread for its result."""
    return asyncio.run_coroutine_threadsafe(coroutine, _CALLS_LOOP.get()).result()


def warm_up() -> None:
    """Do now what a process's first judge call would otherwise do (a worker does it as it boots:
    `evaluations.worker`): import litellm, the modules it imports on its first completion, and
    httpx's transport (with HTTP/2's tables). In the runs benchmark, those took a worker process
    that had not judged yet about a second of CPU in its first call, with a run waiting."""
    litellm = _litellm()
    _await(litellm.acompletion(
        model="openai/warm-up", messages=[{"role": "user", "content": "warm-up"}], mock_response="{}",
        api_key="not-needed",
    ))  # fmt: skip
    import httpcore  # noqa: F401

    # What is loaded now lives as long as the process: out of the collector's sight, a full
    # collection no longer walks it (half a million objects, 0.6 s with every thread stopped).
    gc.collect()
    gc.freeze()


class _Slots:
    """At most `size` judge calls in flight in this process; a call that ends hands its slot to the
    most urgent waiter (lowest `urgency`, then the longest waiting). A trace's metric calls go before
    other traces' first calls: a started trace finishes sooner, and its worker message with it (the
    runs benchmark: items took 1.6 s on average, most of it waiting behind new items' first calls).

    Used on the calls loop only (no lock): a slot passes from a call that ends to the next without
    waking a thread, so it is held only while a call is under way."""

    def __init__(self, size: int):
        self.free, self.waiting, self.ticket = size, [], itertools.count()

    @asynccontextmanager
    async def held(self, urgency: int):
        if self.free and not self.waiting:
            self.free -= 1
        else:
            handed = asyncio.get_running_loop().create_future()
            heapq.heappush(self.waiting, (urgency, next(self.ticket), handed))
            try:
                await handed  # the slot is ours once it is done
            except asyncio.CancelledError:
                if handed.done() and not handed.cancelled():
                    self._release()  # handed over as this waiter was cancelled: pass it on
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self.waiting:
            handed = heapq.heappop(self.waiting)[2]
            if not handed.done():  # a cancelled waiter's future is done already
                handed.set_result(None)
                return
        self.free += 1


@cache
def _slots_of(pid: int, size: int) -> _Slots:
    return _Slots(size)


async def _in_slot(config: "JudgeConfig", urgency: int, call):
    """Await `call()` (a litellm coroutine) once a slot is free, within the call's timeout."""
    async with _slots_of(os.getpid(), config.concurrency).held(urgency):
        return await asyncio.wait_for(call(), config.timeout + TIMEOUT_GRACE_SECONDS)


@dataclass(frozen=True)
class JudgeConfig:
    model: str
    embedding_model: str
    api_base: str
    api_key: str
    timeout: float
    max_retries: int
    concurrency: int

    @classmethod
    def from_settings(cls, model: str | None = None) -> "JudgeConfig":
        return cls(
            model=(model or settings.PANDAPROBE_JUDGE_MODEL).strip(),
            embedding_model=settings.PANDAPROBE_JUDGE_EMBEDDING_MODEL,
            api_base=settings.PANDAPROBE_JUDGE_API_BASE,
            api_key=settings.PANDAPROBE_JUDGE_API_KEY,
            timeout=settings.PANDAPROBE_JUDGE_TIMEOUT,
            max_retries=settings.PANDAPROBE_JUDGE_MAX_RETRIES,
            concurrency=settings.PANDAPROBE_JUDGE_CONCURRENCY,
        )

    def litellm_model(self, model: str) -> str:
        # An OpenAI-compatible server takes any model name; litellm needs to be told the protocol.
        if self.api_base and "/" not in model:
            return f"openai/{model}"
        return model

    def call_options(self) -> dict:
        options: dict = {"timeout": self.timeout, "num_retries": 0, "max_retries": 0}
        if self.api_base:
            options["api_base"] = self.api_base
            options["api_key"] = self.api_key or "not-needed"
        elif self.api_key:
            options["api_key"] = self.api_key
        return options

    def problem(self) -> str | None:
        """Why this configuration cannot judge, as a message telling how to fix it; None when it can."""
        if not self.model:
            return (
                "No judge model is configured: set PANDAPROBE_JUDGE_MODEL (e.g. openai/gpt-4o-mini) or "
                "pass `model` in the request, and the provider's key (e.g. OPENAI_API_KEY), or "
                "PANDAPROBE_JUDGE_API_BASE for an OpenAI-compatible server."
            )
        if self.api_base or self.api_key:
            return None
        missing = _litellm().validate_environment(model=self.model).get("missing_keys") or []
        if missing:
            return f"The judge model {self.model} needs {', '.join(missing)} in the environment."
        return None


@dataclass
class Usage:
    """What judge calls cost; `cost` stays None while any call's price is unknown."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = 0.0
    latency_ms: float = 0.0
    models: list[str] = field(default_factory=list)

    def add(self, other: "Usage") -> None:
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost = None if self.cost is None or other.cost is None else self.cost + other.cost
        self.latency_ms += other.latency_ms
        self.models.extend(m for m in other.models if m not in self.models)

    def as_dict(self) -> dict:
        return {"calls": self.calls, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "cost": self.cost,
                "latency_ms": round(self.latency_ms, 1)}  # fmt: skip


def _retryable(litellm) -> tuple[type[Exception], ...]:
    return (
        litellm.RateLimitError, litellm.Timeout, litellm.APIConnectionError, litellm.InternalServerError,
        litellm.ServiceUnavailableError, litellm.BadGatewayError, TimeoutError,
    )  # fmt: skip


# How long past the configured timeout a call may run before it is cancelled (litellm's own timeout
# normally ends it first).
TIMEOUT_GRACE_SECONDS = 5.0


def _wait_seconds(error: Exception, attempt: int) -> float:
    headers = getattr(getattr(error, "response", None), "headers", None) or {}
    try:
        retry_after = float(headers.get("retry-after"))
    except (TypeError, ValueError):
        retry_after = BACKOFF_SECONDS * 2**attempt * (0.5 + random.random())
    return min(MAX_BACKOFF_SECONDS, max(0.0, retry_after))


def _call(config: JudgeConfig, function, urgency: int = 0, **kwargs):
    """`await function(**kwargs)` (a litellm coroutine function) with retries on what a retry can
    fix; JudgeError otherwise."""
    litellm = _litellm()
    from openai import APIError  # loaded with litellm; every litellm exception derives from it

    for attempt in range(config.max_retries + 1):
        try:
            return _await(_in_slot(config, urgency, lambda: function(**kwargs, **config.call_options())))
        except _retryable(litellm) as error:
            if attempt == config.max_retries:
                raise JudgeError(f"{type(error).__name__} after {attempt + 1} attempts: {error}") from error
            time.sleep(_wait_seconds(error, attempt))
        except APIError as error:  # authentication, bad request, unknown model: final
            raise JudgeError(f"{type(error).__name__}: {error}") from error
    raise AssertionError("unreachable")


def _usage(response, model: str, started: float) -> Usage:
    usage = getattr(response, "usage", None)
    return Usage(
        calls=1,
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        cost=_cost(response),
        latency_ms=(time.monotonic() - started) * 1000,
        models=[model],
    )


def _cost(response) -> float | None:
    # litellm prices every response it returns (None for a model without a known price); pricing it
    # again cost a tenth of a judge call's CPU in the runs benchmark.
    hidden = getattr(response, "_hidden_params", None) or {}
    if "response_cost" in hidden:
        return hidden["response_cost"]
    try:
        return _litellm().completion_cost(completion_response=response)
    except Exception:  # litellm raises several types for a model without a known price
        return None


@lru_cache(maxsize=256)
def _validator(schema_json: str):
    # `jsonschema.validate` checks the schema against the metaschema on every call: profiled in an
    # evaluation run (benchmarks/bench_runs.py), that cost about 60 % of the CPU of the litellm call
    # itself. A metric's schema never changes, so it is checked once.
    schema = json.loads(schema_json)
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _parse(content: str | None, schema: dict) -> tuple[dict | None, str | None]:
    """The answer as data, or None and what is wrong with it."""
    try:
        data = json.loads(content or "")
    except json.JSONDecodeError as error:
        return None, f"it is not valid JSON ({error})"
    validator = _validator(json.dumps(schema, sort_keys=True))
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the top level"
        return None, f"at {where}: {error.message}"
    return data, None


def complete_json(
    config: JudgeConfig, messages: list[dict], schema: dict, name: str, urgency: int = 0
) -> tuple[dict, Usage]:
    """The judge's answer to `messages` as data following `schema`, and what it cost. Calls of a
    lower `urgency` wait less for a slot (`_Slots`)."""
    litellm, total = _litellm(), Usage()
    response_format = {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
    for _ in range(2):  # the answer, then one repair
        started = time.monotonic()
        response = _call(
            config, litellm.acompletion, urgency, model=config.litellm_model(config.model), messages=messages,
            temperature=0, response_format=response_format,
        )  # fmt: skip
        total.add(_usage(response, config.model, started))
        content = response.choices[0].message.content
        data, problem = _parse(content, schema)
        if data is not None:
            return data, total
        messages = [*messages, {"role": "assistant", "content": content or ""},
                    {"role": "user", "content": REPAIR_PROMPT.format(problem=problem)}]  # fmt: skip
    raise JudgeError(f"the judge's answer could not be used after a repair attempt: {problem}")


def embed(config: JudgeConfig, texts: list[str]) -> tuple[list[list[float]], Usage]:
    """One embedding per text, in order, and what it cost."""
    litellm, started = _litellm(), time.monotonic()
    model = config.litellm_model(config.embedding_model)
    response = _call(config, litellm.aembedding, model=model, input=texts)
    vectors = [item["embedding"] for item in sorted(response.data, key=lambda item: item["index"])]
    if len(vectors) != len(texts):
        raise JudgeError(f"the embedding model returned {len(vectors)} vectors for {len(texts)} texts")
    return vectors, _usage(response, config.embedding_model, started)


def estimate_cost(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """What that many tokens would cost on `model`, when litellm knows its price."""
    try:
        prompt_cost, completion_cost = _litellm().cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
    except Exception:  # an unknown model: litellm raises several types
        return None
    return prompt_cost + completion_cost


PROVIDERS = (
    ("openai", "OpenAI", "GPT models through the OpenAI API.", ("OPENAI_API_KEY",)),
    ("anthropic", "Anthropic", "Claude models through the Anthropic API.", ("ANTHROPIC_API_KEY",)),
    ("gemini", "Google Gemini", "Gemini models through Google AI Studio.", ("GEMINI_API_KEY",)),
    ("azure", "Azure OpenAI", "OpenAI models deployed on Azure.", ("AZURE_API_KEY", "AZURE_API_BASE")),
)


def provider_statuses() -> list[dict]:
    """Which providers have credentials here (`GET /evaluations/providers`)."""
    statuses = []
    for key, name, description, variables in PROVIDERS:
        missing = [variable for variable in variables if not os.environ.get(variable)]
        message = f"Set {', '.join(missing)} to use it." if missing else "Credentials found."
        statuses.append({"key": key, "name": name, "description": description,
                         "available": not missing, "message": message})  # fmt: skip
    base = settings.PANDAPROBE_JUDGE_API_BASE
    statuses.append({
        "key": "openai_compatible", "name": "OpenAI-compatible server",
        "description": "Any server speaking the OpenAI API (vLLM, Ollama, LM Studio).",
        "available": bool(base),
        "message": f"Using {base}." if base else "Set PANDAPROBE_JUDGE_API_BASE to use one.",
    })  # fmt: skip
    return statuses
