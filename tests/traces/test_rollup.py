"""The traces' hourly rollup (`TraceHourStats`) equals a recomputation from the
stored traces and spans after every write the API offers: random sequences of ingestion, re-ingestion
(merges that move a trace to another hour or environment), span additions and edits, trace edits and
deletes; on PostgreSQL also from concurrent writers. The recomputation here is plain Python over the
rows, not the SQL the rebuild runs."""

import random
import threading
import uuid
from datetime import UTC, datetime, timedelta
from importlib import import_module
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection, connections

from pandaprobe.projects import services as project_services
from pandaprobe.traces.models import Span, Trace, TraceHourStats
from pandaprobe.traces.rollup import trace_rollup_rebuild

from ..conftest import ProjectClient
from ..factories import SpanFactory, TraceFactory

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
MODELS = [None, "", "gpt-4o", "claude-3", "a-model"]
ENVIRONMENTS = [None, "prod", "dev"]
STATUSES = ["COMPLETED", "ERROR", "RUNNING", "PENDING"]
MEASURES = (
    "trace_count", "error_count", "latency_count", "latency_sum_ms", "call_count",
    "total_tokens", "prompt_tokens", "completion_tokens", "total_cost",
)  # fmt: skip


# The recomputation -------------------------------------------------------------------------------


def _hour(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _add(table: dict, key, values: tuple) -> None:
    row = table.setdefault(key, [0] * len(values))
    for index, value in enumerate(values):
        row[index] += value


def recomputed(project) -> dict:
    """{(hour, environment, model): MEASURES}: model "" for the traces, else that model's spans."""
    rows = {}
    for trace in Trace.objects.filter(project=project):
        latency = trace.latency_ms
        values = (
            1, int(trace.status == "ERROR"), int(latency is not None), latency or 0.0, 0,
            trace.total_tokens, trace.prompt_tokens, trace.completion_tokens, trace.total_cost,
        )  # fmt: skip
        _add(rows, (_hour(trace.started_at), trace.environment or "", ""), values)
    for span in Span.objects.filter(trace__project=project).select_related("trace"):
        if span.model:
            key = (_hour(span.trace.started_at), span.trace.environment or "", span.model)
            tokens = (span.total_tokens, span.prompt_tokens, span.completion_tokens, span.total_cost)
            _add(rows, key, (0, 0, 0, 0, 1, *tokens))
    return rows


def stored(project) -> dict:
    return {
        (row.hour, row.environment, row.model): [getattr(row, f) for f in MEASURES]
        for row in TraceHourStats.objects.filter(project=project)
    }


def assert_rollup_matches(project) -> None:
    got, expected = stored(project), recomputed(project)
    # Counts and tokens exactly; cost and latency sums are floats added in another order.
    assert got.keys() == expected.keys(), (got, expected)
    for key, values in expected.items():
        assert got[key] == pytest.approx(values, rel=1e-9, abs=1e-9), (key, got[key], values)


# Random writes through the API ---------------------------------------------------------------------


class Writer:
    """Random API writes over a small set of trace ids, hours and environments, so they collide."""

    def __init__(self, client: ProjectClient, rng: random.Random):
        self.client, self.rng = client, rng
        self.traces: dict[str, list[str]] = {}  # trace id -> span ids sent

    def _time(self) -> datetime:
        # Three hours, with starts right at and just before an hour's edge.
        offset = self.rng.choice([0, 1, 59 * 60 + 59.999, 3600, 2 * 3600 + 1800, 3 * 3600 - 0.001])
        return T0 + timedelta(seconds=offset)

    def _span(self, span_id: str | None = None) -> dict:
        usage = self.rng.choice(
            [None, {"prompt_tokens": self.rng.randint(0, 90), "completion_tokens": self.rng.randint(0, 9)},
             {"total_tokens": self.rng.randint(1, 50)}, {"input": 3, "output": 4}]
        )  # fmt: skip
        cost = self.rng.choice(
            [None, {"total": self.rng.randint(1, 999) / 1000}, {"input": 0.25, "output": 0.5}]
        )
        span = {"span_id": span_id or str(uuid.uuid4()), "name": "step", "started_at": T0.isoformat()}
        fields = {"model": self.rng.choice(MODELS), "token_usage": usage, "cost": cost}
        return {**span, **{k: v for k, v in fields.items() if v is not None}}

    def _spans(self, trace_id: str) -> list[dict]:
        known = self.traces.get(trace_id, [])
        spans = [self._span() for _ in range(self.rng.randint(0, 3))]
        spans += [self._span(span_id) for span_id in self.rng.sample(known, min(len(known), 2))]
        self.traces.setdefault(trace_id, []).extend(s["span_id"] for s in spans if s["span_id"] not in known)
        return spans

    def _trace_fields(self) -> dict:
        started = self._time()
        fields = {"started_at": started.isoformat(), "status": self.rng.choice(STATUSES)}
        if self.rng.random() < 0.7:
            fields["ended_at"] = (started + timedelta(milliseconds=self.rng.randint(0, 5000))).isoformat()
        environment = self.rng.choice(ENVIRONMENTS)
        if environment:
            fields["environment"] = environment
        fields["session_id"] = self.rng.choice(["s1", "s2"])
        return fields

    def ingest(self, trace_id: str | None = None):
        trace_id = trace_id or str(uuid.uuid4())
        body = {"trace_id": trace_id, "name": "run", **self._trace_fields(), "spans": self._spans(trace_id)}
        return self.client.post("/traces", body, format="json")

    def reingest(self):
        return self.ingest(self.rng.choice(list(self.traces))) if self.traces else self.ingest()

    def add_spans(self):
        if not self.traces:
            return self.ingest()
        trace_id = self.rng.choice(list(self.traces))
        spans = self._spans(trace_id) or [self._span()]
        self.traces[trace_id].extend(s["span_id"] for s in spans)
        return self.client.post(f"/traces/{trace_id}/spans", spans, format="json")

    def patch_trace(self):
        if not self.traces:
            return self.ingest()
        fields = {k: v for k, v in self._trace_fields().items() if k != "started_at"}
        return self.client.patch(f"/traces/{self.rng.choice(list(self.traces))}", fields, format="json")

    def patch_span(self):
        with_spans = [t for t, spans in self.traces.items() if spans]
        if not with_spans:
            return self.ingest()
        trace_id = self.rng.choice(with_spans)
        span = {k: v for k, v in self._span().items() if k not in ("span_id", "name", "started_at")}
        path = f"/traces/{trace_id}/spans/{self.rng.choice(self.traces[trace_id])}"
        return self.client.patch(path, span or {"model": "b-model"}, format="json")

    def delete(self):
        if not self.traces:
            return self.ingest()
        trace_id = self.rng.choice(list(self.traces))
        self.traces.pop(trace_id)
        return self.client.delete(f"/traces/{trace_id}")

    def delete_batch(self):
        ids = self.rng.sample(list(self.traces), min(len(self.traces), 3))
        for trace_id in ids:
            self.traces.pop(trace_id)
        return self.client.post(
            "/traces/batch/delete", {"trace_ids": ids or [str(uuid.uuid4())]}, format="json"
        )

    def delete_session(self):
        return self.client.delete(f"/sessions/{self.rng.choice(['s1', 's2'])}")

    def step(self):
        operation = self.rng.choice(
            [self.ingest] * 3 + [self.reingest] * 3 + [self.add_spans, self.patch_span] * 2
            + [self.patch_trace, self.delete, self.delete_batch, self.delete_session]
        )  # fmt: skip
        return operation.__name__, operation()


# What a write may answer: a merge that would end a trace before it started is refused (422), and a
# deleted trace or session is gone (404); a refused write must leave the rollup as it was. A write with
# nothing to act on yet ingests a trace instead (202).
ANSWERS = {
    "ingest": {202, 422}, "reingest": {202, 422}, "add_spans": {201, 202, 404, 422},
    "patch_trace": {200, 202, 404, 422}, "patch_span": {200, 202, 404, 422}, "delete": {202, 204, 404},
    "delete_batch": {200}, "delete_session": {200, 404},
}  # fmt: skip


@pytest.mark.parametrize("seed", range(4))
def test_the_rollup_equals_a_recomputation_after_every_write(api, project, other_api, seed):
    writer, theirs = Writer(api, random.Random(seed)), Writer(other_api, random.Random(seed + 100))
    for _ in range(5):  # another project's traces in the same hours: never counted in ours
        theirs.ingest()
    answers = []
    for _ in range(60):
        name, response = writer.step()
        assert response.status_code in ANSWERS[name], (name, response.content)
        answers.append(response.status_code)
        assert_rollup_matches(project)
    assert answers.count(422) < 15, answers  # most writes went through
    assert_rollup_matches(other_api.project)


def test_a_merge_that_moves_a_trace_moves_its_spans_model_rows(api, project):
    span = {"span_id": str(uuid.uuid4()), "name": "llm", "started_at": T0.isoformat(), "model": "gpt-4o"}
    body = {"trace_id": str(uuid.uuid4()), "name": "run", "started_at": T0.isoformat(), "spans": [span]}
    assert api.post("/traces", body, format="json").status_code == 202
    later = (T0 + timedelta(hours=5)).isoformat()
    assert (
        api.post(
            "/traces", {**body, "started_at": later, "environment": "prod", "spans": []}, format="json"
        ).status_code
        == 202
    )
    moved = TraceHourStats.objects.order_by("model").values_list(
        "hour", "environment", "model", "trace_count", "call_count"
    )
    assert list(moved) == [
        (T0 + timedelta(hours=5), "prod", "", 1, 0),
        (T0 + timedelta(hours=5), "prod", "gpt-4o", 0, 1),
    ]
    assert_rollup_matches(project)


def test_deleting_the_last_trace_of_an_hour_deletes_its_rows(api, project):
    span = {"span_id": str(uuid.uuid4()), "name": "llm", "started_at": T0.isoformat(), "model": "gpt-4o"}
    trace_id = str(uuid.uuid4())
    body = {"trace_id": trace_id, "name": "run", "started_at": T0.isoformat(), "spans": [span]}
    assert api.post("/traces", body, format="json").status_code == 202
    assert sorted(TraceHourStats.objects.values_list("model", flat=True)) == ["", "gpt-4o"]
    assert api.delete(f"/traces/{trace_id}").status_code == 204
    assert not TraceHourStats.objects.exists()


def test_a_refused_merge_leaves_the_rollup_as_it_was(api, project):
    body = {"trace_id": str(uuid.uuid4()), "name": "run", "started_at": T0.isoformat(), "status": "ERROR"}
    assert api.post("/traces", body, format="json").status_code == 202
    before = stored(project)
    ended_before_start = {**body, "ended_at": (T0 - timedelta(seconds=1)).isoformat(), "status": "COMPLETED"}
    assert api.post("/traces", ended_before_start, format="json").status_code == 422
    assert stored(project) == before


# Rebuild: the service, the command and the migration -----------------------------------------------


def _writes(api, seed: int = 7) -> None:
    writer = Writer(api, random.Random(seed))
    for _ in range(40):
        writer.step()


def test_the_rebuild_recomputes_one_projects_rollup_from_its_traces(api, project, other_api):
    _writes(api)
    _writes(other_api, seed=8)
    theirs = stored(other_api.project)
    # Writes past the services: a SQL bulk load (factories count theirs in; these do not).
    Trace.objects.create(project=project, name="bulk", started_at=T0 + timedelta(hours=7), latency_ms=5.0)
    TraceHourStats.objects.filter(project=project, model="").update(trace_count=999)
    TraceHourStats.objects.filter(project=project).exclude(model="").delete()
    assert trace_rollup_rebuild(project=project) == len(recomputed(project))
    assert_rollup_matches(project)
    assert stored(other_api.project) == theirs


def test_the_command_rebuilds_every_project_or_one(api, project, other_api):
    _writes(api)
    _writes(other_api, seed=9)
    TraceHourStats.objects.all().delete()
    out = StringIO()
    call_command("rebuild_trace_rollup", "--project", project.name, stdout=out)
    assert "hourly rows rebuilt" in out.getvalue()
    assert_rollup_matches(project)
    assert not TraceHourStats.objects.filter(project=other_api.project).exists()
    call_command("rebuild_trace_rollup", stdout=StringIO())
    assert_rollup_matches(project)
    assert_rollup_matches(other_api.project)
    with pytest.raises(CommandError, match="No project named"):
        call_command("rebuild_trace_rollup", "--project", "nope")


def test_the_migration_fills_in_the_rollup_of_stored_traces(project):
    trace = TraceFactory(project=project, started_at=T0, environment="prod", status="ERROR", total_cost=0.5)
    SpanFactory(trace=trace, model="gpt-4o", total_tokens=7, total_cost=0.25)
    SpanFactory(trace=trace, model=None)
    TraceFactory(project=project, started_at=T0 + timedelta(minutes=59), latency_ms=None, ended_at=None)
    TraceHourStats.objects.all().delete()  # as before the migration: no rows
    import_module("pandaprobe.traces.migrations.0005_trace_hour_rollup").backfill(apps, None)
    assert_rollup_matches(project)


# Concurrent writers (PostgreSQL: SQLite runs one writer at a time) -----------------------------------

THREADS, STEPS = 8, 15


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_the_rollup_exact(project):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite runs one writer at a time")
    raw_key = project_services.api_key_create(project=project, name="racer").raw_key
    shared = [str(uuid.uuid4()) for _ in range(4)]  # every thread writes these: merges, deletes, races
    failures, answers = [], []

    def run(seed: int):
        rng = random.Random(seed)
        writer = Writer(ProjectClient(project, raw_key, raise_request_exception=False), rng)
        writer.traces = {trace_id: [] for trace_id in shared}
        try:
            for _ in range(STEPS):
                name, response = writer.step()
                answers.append((name, response.status_code, response.content[:200]))
                writer.traces.update({trace_id: writer.traces.get(trace_id, []) for trace_id in shared})
        except Exception as exc:  # reported by the assertion below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    unexpected = [answer for answer in answers if answer[1] not in ANSWERS[answer[0]] | {409}]
    assert not unexpected, unexpected
    stored_writes = [answer for answer in answers if answer[1] in (200, 201, 202, 204)]
    assert len(stored_writes) > THREADS * STEPS // 2, answers
    assert_rollup_matches(project)
