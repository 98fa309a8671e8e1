"""The demo data of `make run`: a realistic mix, built once, and credentials that work."""

import json
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone
from rest_framework.test import APIClient

from pandaprobe.projects.models import Membership, Project
from pandaprobe.traces.api.schemas import TraceCreate
from pandaprobe.traces.demo import bench_trace_body, demo_seed, demo_trace_bodies
from pandaprobe.traces.models import Span, SpanKind, SpanStatus, Trace, TraceStatus


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def printed(output: str, label: str) -> str:
    return re.search(rf"^\s*{label}:\s+(\S+)", output, re.MULTILINE).group(1)


@pytest.fixture
def seeded(project):
    count = demo_seed(project=project)
    return count, Trace.objects.filter(project=project)


def test_seed_builds_a_realistic_mix(seeded):
    count, traces = seeded
    spans = Span.objects.filter(trace__in=traces)
    assert 60 <= count <= 100 and traces.count() == count
    assert {SpanKind.AGENT, SpanKind.LLM, SpanKind.TOOL, SpanKind.RETRIEVER, SpanKind.CHAIN} <= set(
        spans.values_list("kind", flat=True)
    )
    assert spans.filter(kind=SpanKind.TOOL, status=SpanStatus.ERROR).exclude(error="").count() >= 5
    assert 3 <= traces.filter(status=TraceStatus.ERROR).count() < count // 2
    assert set(traces.values_list("environment", flat=True)) == {"production", "staging"}
    sessions = traces.exclude(session_id=None).values("session_id").annotate(n=Count("pk"))
    assert sum(1 for row in sessions if row["n"] > 1) >= 5
    assert traces.exclude(user_id=None).values("user_id").distinct().count() >= 5
    assert not traces.filter(tags=[]).exists()


def test_totals_are_computed_by_ingestion(seeded):
    _, traces = seeded
    llm_spans = Span.objects.filter(trace__in=traces, kind=SpanKind.LLM)
    assert not llm_spans.filter(total_tokens=0).exists() and not llm_spans.filter(total_cost=0).exists()
    for trace in traces.annotate(spans_n=Count("spans")):
        assert trace.span_count == trace.spans_n and trace.total_tokens > 0 and trace.total_cost > 0
        assert trace.latency_ms > 0
        assert trace.started_at > timezone.now() - timedelta(days=7, minutes=1)


def test_spans_nest_under_one_agent_root_and_carry_chat_messages(seeded):
    _, traces = seeded
    looping = 0
    for trace in traces.prefetch_related("spans"):
        spans = list(trace.spans.all())
        roots = [span for span in spans if span.parent_span_id is None]
        assert [root.kind for root in roots] == [SpanKind.AGENT]
        assert {span.parent_span_id for span in spans} - {None} <= {span.span_id for span in spans}
        assert trace.input["messages"][-1]["role"] == "user"
        assert trace.output["messages"][0]["role"] == "assistant"
        looping += sum(span.name == "run_tests" for span in spans) >= 3
    assert looping >= 2


def test_bodies_are_deterministic():
    now = timezone.now()
    assert demo_trace_bodies(now=now) == demo_trace_bodies(now=now)
    assert demo_trace_bodies(now=now) != demo_trace_bodies(now=now, seed=2)


def test_second_run_adds_no_traces_and_each_printed_key_works(db):
    first, second = seed(), seed()
    project = Project.objects.get(name="demo")
    assert Trace.objects.filter(project=project).count() == int(re.search(r"(\d+) traces added", first)[1])
    assert "nothing added" in second
    assert Trace.objects.count() == Trace.objects.filter(project=project).count()
    for output in (first, second):
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=printed(output, "API key"), HTTP_X_PROJECT_NAME="demo")
        assert client.get("/traces?limit=1").json()["total"] == Trace.objects.count()


def test_printed_logins_work_once_and_reset_on_request(db):
    first = seed()
    admin_password = _password(first, "admin")
    reviewer_password = _password(first, "reviewer")
    admin = authenticate(username="admin", password=admin_password)
    reviewer = authenticate(username="reviewer", password=reviewer_password)
    assert admin.is_superuser and not reviewer.is_superuser
    assert Membership.objects.get(user=reviewer, project__name="demo").role == Membership.Role.REVIEWER
    assert "password shown on the first run" in seed()
    assert authenticate(username="admin", password=admin_password) == admin
    new_password = _password(seed("--reset-passwords"), "reviewer")
    assert new_password != reviewer_password and authenticate(username="reviewer", password=new_password)


def _password(output: str, username: str) -> str:
    return re.search(rf"\b{username} / (\S+)", output)[1]


def test_bench_body_has_ten_valid_spans():
    body = bench_trace_body()
    assert len(body["spans"]) == 10 and 5_000 <= len(json.dumps(body)) <= 8_000
    TraceCreate.model_validate(body)  # raises if the demo body does not fit the API
