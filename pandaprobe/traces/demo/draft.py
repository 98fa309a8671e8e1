"""Building blocks of a demo trace body: a span clock, LLM calls with usage and cost, tool calls."""

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# USD per million tokens (input, output).
PRICES = {"gpt-4o-mini": (0.15, 0.60), "gpt-4o": (2.50, 10.00), "claude-3-5-sonnet": (3.00, 15.00)}


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _tokens(text: str) -> int:
    return len(text.split()) * 4 // 3


@dataclass
class Turn:
    """What one agent run produced: the user's question, the answer, and why the run failed if it did."""

    question: str
    answer: str
    error: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class TraceDraft:
    """One trace's spans, in the order they happened: a clock moves forward as spans are added."""

    rng: random.Random
    started_at: datetime
    spans: list[dict] = field(default_factory=list)
    clock: datetime | None = None

    def __post_init__(self):
        self.clock = self.started_at

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def wait(self, low_ms: float, high_ms: float) -> None:
        self.clock += timedelta(milliseconds=self.rng.uniform(low_ms, high_ms))

    def open(self, name: str, kind: str, parent: str | None = None, **fields) -> dict:
        """A span whose end is set by `close`, once its children are added."""
        span = {"span_id": self.new_id(), "parent_span_id": parent, "name": name, "kind": kind}
        span.update(status="OK", started_at=iso(self.clock), **fields)
        self.spans.append(span)
        self.wait(2, 15)
        return span

    def close(self, span: dict, **fields) -> str:
        self.wait(2, 20)
        span.update(ended_at=iso(self.clock), **fields)
        return span["span_id"]

    def leaf(self, name: str, kind: str, parent: str, ms: tuple[float, float], **fields) -> dict:
        """A span without children that lasts between `ms[0]` and `ms[1]` milliseconds."""
        span = self.open(name, kind, parent)
        self.wait(*ms)
        self.close(span, **fields)
        return span

    def llm(self, name: str, parent: str, *, model: str, messages: list[dict], reply: dict) -> dict:
        """An LLM call; token usage, cost and time to first token follow from the text sizes."""
        prompt = sum(_tokens(str(m.get("content") or "")) for m in messages) + self.rng.randint(40, 400)
        completion = _tokens(json.dumps(reply)) + self.rng.randint(5, 60)
        input_price, output_price = PRICES[model]
        cost_in, cost_out = prompt * input_price / 1e6, completion * output_price / 1e6
        span = self.open(name, "LLM", parent, model=model)
        first_token = self.clock + timedelta(milliseconds=self.rng.uniform(180, 900))
        self.wait(400 + completion * 12, 900 + completion * 25)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        self.close(
            span,
            input={"messages": messages},
            output={"messages": [{"role": "assistant", **reply}]},
            completion_start_time=iso(first_token),
            model_parameters={"temperature": 0.2, "max_tokens": 1024},
            token_usage=usage,
            cost={
                "input": round(cost_in, 8),
                "output": round(cost_out, 8),
                "total": round(cost_in + cost_out, 8),
            },
        )
        return span


def tool_call(name: str, arguments: dict) -> dict:
    """An assistant message asking for a tool, as chat-completion APIs return it."""
    function = {"name": name, "arguments": json.dumps(arguments)}
    return {"content": None, "tool_calls": [{"id": f"call_{name}", "type": "function", "function": function}]}


def fail(span: dict, error: str) -> None:
    span.update(status="ERROR", error=error, output=None)
