"""Realistic demo data: a week of agent traces, ingested through the real API path.

Five agents (customer support, research, coding, travel booking, SQL analytics; see `agents`) make
traces of AGENT / CHAIN / LLM / TOOL / RETRIEVER / EMBEDDING spans nested by parent: successes,
tool errors, failed runs, a coding agent looping on its tests, multi-trace chat sessions per user,
tags, production and staging, token usage and cost on LLM calls, chat messages in and out.

One seeded random generator drives everything, so every run builds the same traces (times are
relative to `now`). Bodies are JSON shaped exactly like `POST /traces`; `demo_seed` validates them
with the API's serializer and stores them with `trace_ingest`, so totals and latencies are computed
the normal way. `bench_trace_body` is the 10-span body of the ingestion benchmark.
"""

import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from pandaprobe.api.errors import validated_model
from pandaprobe.projects.access import ProjectAccess
from pandaprobe.projects.models import Project

from .. import services
from ..api.schemas import TraceCreate
from ..models import Trace
from .agents import AGENTS
from .draft import TraceDraft, iso

DEMO_PROJECT_NAME = "demo"
DEMO_SEED = 20250601
DEMO_DAYS = 7
STANDALONE_TRACES = 52
# (agent, user, turns): chat sessions of one user, a few minutes between turns.
SESSIONS = [
    ("support-agent", "user-alice", 4),
    ("support-agent", "user-bob", 3),
    ("research-assistant", "user-carol", 5),
    ("research-assistant", "user-dave", 2),
    ("sql-analyst", "user-erin", 4),
    ("sql-analyst", "user-alice", 3),
    ("coding-agent", "user-frank", 3),
    ("travel-booker", "user-grace", 3),
]
USERS = ["user-alice", "user-bob", "user-carol", "user-dave", "user-erin", "user-frank", "user-grace"]
CHANNELS = ["web", "mobile", "api"]


@dataclass
class TraceContext:
    """Who runs which agent when; within a session, the conversation so far."""

    agent: str
    started_at: datetime
    user_id: str | None = None
    session_id: str | None = None
    history: list[dict] = field(default_factory=list)


def _release(rng: random.Random) -> tuple[str, str]:
    return ("production", "v1.8.2") if rng.random() < 0.75 else ("staging", "v1.9.0-rc1")


def build_trace(rng: random.Random, ctx: TraceContext, *, fail_tool: bool | None = None) -> dict:
    """One `POST /traces` body: an AGENT root span with the agent's steps under it."""
    agent, questions, failure_rate, tags = AGENTS[ctx.agent]
    fail_tool = rng.random() < failure_rate if fail_tool is None else fail_tool
    draft = TraceDraft(rng=rng, started_at=ctx.started_at)
    trace_id = draft.new_id()
    root = draft.open(ctx.agent, "AGENT")
    turn = agent(draft, root["span_id"], rng.choice(questions), fail_tool=fail_tool)
    messages = [*ctx.history, {"role": "user", "content": turn.question}]
    answer = {"role": "assistant", "content": turn.answer}
    draft.close(root, input={"messages": messages}, output={"messages": [answer]})
    if turn.error:
        root.update(status="ERROR", error=turn.error)
    environment, release = _release(rng)
    channel_tags = [rng.choice(CHANNELS), *(["vip"] if rng.random() < 0.15 else [])]
    return {
        "trace_id": trace_id,
        "name": ctx.agent,
        "status": "ERROR" if turn.error else "COMPLETED",
        "input": {"messages": messages},
        "output": {"messages": [answer]},
        "metadata": {"agent_version": release, **({"error": turn.error} if turn.error else {})},
        "started_at": iso(draft.started_at),
        "ended_at": root["ended_at"],
        "session_id": ctx.session_id,
        "user_id": ctx.user_id,
        "tags": [*tags, *turn.tags, *channel_tags],
        "environment": environment,
        "release": release,
        "spans": draft.spans,
    }


def _session_bodies(rng: random.Random, now: datetime, agent: str, user_id: str, turns: int) -> list[dict]:
    session_id = f"sess-{rng.getrandbits(48):012x}"
    started_at = now - timedelta(days=rng.uniform(0.2, DEMO_DAYS - 0.5))
    ctx = TraceContext(agent=agent, started_at=started_at, user_id=user_id, session_id=session_id)
    bodies = []
    for _ in range(turns):
        body = build_trace(rng, ctx)
        bodies.append(body)
        ctx.history = [*body["input"]["messages"], *body["output"]["messages"]][-6:]
        ctx.started_at = datetime.fromisoformat(body["ended_at"]) + timedelta(seconds=rng.uniform(20, 300))
    return bodies


def demo_trace_bodies(*, now: datetime, seed: int = DEMO_SEED) -> list[dict]:
    """Every demo trace as a `POST /traces` body, oldest first; the same ones for the same seed."""
    rng = random.Random(seed)
    bodies = []
    for agent, user_id, turns in SESSIONS:
        bodies.extend(_session_bodies(rng, now, agent, user_id, turns))
    for _ in range(STANDALONE_TRACES):
        started_at = now - timedelta(days=rng.uniform(0.01, DEMO_DAYS))
        ctx = TraceContext(
            agent=rng.choice(list(AGENTS)), started_at=started_at, user_id=rng.choice([*USERS, None])
        )
        bodies.append(build_trace(rng, ctx))
    return sorted(bodies, key=lambda body: body["started_at"])


def bench_trace_body(*, seed: int = 1, now: datetime | None = None) -> dict:
    """A successful support-agent run with exactly 10 spans (about 7 KB of JSON), for load tests."""
    started_at = (now or timezone.now()) - timedelta(seconds=30)
    body = build_trace(
        random.Random(seed), TraceContext(agent="support-agent", started_at=started_at), fail_tool=False
    )
    if len(body["spans"]) != 10:
        raise AssertionError("the benchmark body must have 10 spans")
    return body


def demo_seed(*, project: Project, now: datetime | None = None, seed: int = DEMO_SEED) -> int:
    """Ingest the demo traces into `project` unless it has traces already; returns how many were added.

    All or nothing: one transaction, and each body is validated by the API's schema first.
    """
    if Trace.objects.filter(project=project).exists():
        return 0
    bodies = demo_trace_bodies(now=now or timezone.now(), seed=seed)
    with transaction.atomic():
        for body in bodies:
            services.trace_ingest(access=ProjectAccess.system(project), data=validated_model(TraceCreate, body))
    return len(bodies)


def demo_user_ensure(*, username: str, superuser: bool = False, reset_password: bool = False) -> tuple:
    """The user, created with a random password if missing, and the new password if one was set.

    An existing user keeps their password (None is returned for it) unless `reset_password`: only a
    hash is stored, so a password can be shown once only.
    """
    users = get_user_model().objects
    user = users.filter(username=username).first()
    if user is not None and not reset_password:
        return user, None
    password = secrets.token_urlsafe(12)
    if user is None:
        create = users.create_superuser if superuser else users.create_user
        user = create(username=username, email=f"{username}@example.com", password=password)
    else:
        user.set_password(password)
        user.save(update_fields=["password"])
    return user, password
