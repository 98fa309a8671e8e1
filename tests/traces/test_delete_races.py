"""A trace deleted while it is re-ingested and scored, through the real API from real threads:
never a 500, and nothing left half-related afterwards (PostgreSQL only: SQLite serializes writers)."""

import random
import threading
import uuid
from collections import Counter

import pytest
from django.db import connection, connections

from evaluations.models import ScoreEvent, TraceScore
from pandaprobe.projects import services as project_services
from pandaprobe.traces.models import Span, Trace

from ..conftest import ProjectClient
from .conftest import span_body, trace_body

THREADS = 12
REQUESTS_PER_THREAD = 12
# What each request may answer when it loses a race: never a 500.
ALLOWED = {
    "delete": {204, 404},
    "ingest": {202},
    "score": {201, 404},
    "edit": {200, 404},  # a PATCH of the score this thread created last (a score POST when none)
}


def _request(client: ProjectClient, kind: str, trace_id: str, own_scores: list[str]):
    if kind == "delete":
        return client.delete(f"/traces/{trace_id}")
    if kind == "ingest":
        body = trace_body(span_body(), span_body(), trace_id=trace_id)
        return client.post("/traces", body, format="json")
    if kind == "edit" and own_scores:
        return client.patch(f"/evaluations/trace-scores/{own_scores[-1]}", {"value": "0.9"}, format="json")
    body = {"trace_id": trace_id, "name": "quality", "value": "0.5", "source": "PROGRAMMATIC"}
    response = client.post("/evaluations/trace-scores", body, format="json")
    if response.status_code == 201:
        own_scores.append(response.json()["id"])
    return response


@pytest.mark.django_db(transaction=True)
def test_deletes_racing_ingestion_and_scores_never_answer_500(project):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite runs one writer at a time")
    raw_key = project_services.api_key_create(project=project, name="racer").raw_key
    trace_id = str(uuid.uuid4())
    ProjectClient(project, raw_key).post("/traces", trace_body(span_body(), trace_id=trace_id), format="json")
    barrier, results, failures = threading.Barrier(THREADS), [], []

    def run(seed: int):
        client = ProjectClient(project, raw_key, raise_request_exception=False)
        kinds = random.Random(seed).choices(list(ALLOWED), k=REQUESTS_PER_THREAD)
        own_scores: list[str] = []
        try:
            barrier.wait()
            for kind in kinds:
                kind = kind if kind != "edit" or own_scores else "score"
                response = _request(client, kind, trace_id, own_scores)
                results.append((kind, response.status_code, response.content[:300]))
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
    assert len(results) == THREADS * REQUESTS_PER_THREAD
    unexpected = [r for r in results if r[1] not in ALLOWED[r[0]]]
    assert not unexpected, unexpected
    counts = Counter((kind, code) for kind, code, _ in results)
    assert counts[("delete", 204)] and counts[("ingest", 202)] and counts[("score", 201)], counts
    assert counts[("edit", 200)] + counts[("edit", 404)], counts
    _assert_consistent(project)


def _assert_consistent(project):
    traces = set(Trace.objects.filter(project=project).values_list("pk", flat=True))
    assert set(Span.objects.filter(trace__project=project).values_list("trace_id", flat=True)) <= traces
    assert set(TraceScore.objects.filter(project=project).values_list("trace_id", flat=True)) <= traces
    for trace in Trace.objects.filter(project=project):
        assert trace.span_count == trace.spans.count()
    events = ScoreEvent.objects.filter(project=project)
    created = set(events.filter(action=ScoreEvent.Action.CREATE).values_list("score_id", flat=True))
    deleted = Counter(events.filter(action=ScoreEvent.Action.DELETE).values_list("score_id", flat=True))
    alive = set(TraceScore.objects.filter(project=project).values_list("pk", flat=True))
    assert alive <= created
    # Every score is either still there or has exactly one delete event; never both, never neither.
    assert created - alive == set(deleted), created - alive ^ set(deleted)
    assert not alive & set(deleted)
    assert set(deleted.values()) <= {1}
