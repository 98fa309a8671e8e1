"""PATCH / DELETE of traces and spans, POST of spans, batch delete and batch tags."""

import uuid

import pytest
from rest_framework.test import APIRequestFactory

from pandaprobe.api.errors import exception_handler
from pandaprobe.errors import NotFound
from pandaprobe.projects.access import ProjectAccess
from pandaprobe.traces import services
from pandaprobe.traces.models import Span, Trace

from ..factories import SpanFactory, TraceFactory
from .conftest import span_body, trace_body


def test_patch_trace_overwrites_sent_fields_merges_metadata_replaces_tags(api, ingest):
    trace_id = ingest(trace_body(metadata={"a": 1}, tags=["x", "y"], user_id="u1", output={"o": 1}))
    response = api.patch(
        f"/traces/{trace_id}",
        {
            "status": "ERROR",
            "metadata": {"b": 2},
            "tags": ["z", "z"],
            "output": None,
            "ended_at": "2026-01-01T00:00:04Z",
            "environment": "staging",
        },  # fmt: skip
        format="json",
    )
    assert response.status_code == 200
    got = response.json()
    assert (got["status"], got["metadata"], got["tags"]) == ("ERROR", {"a": 1, "b": 2}, ["z"])
    assert (got["user_id"], got["output"], got["environment"]) == ("u1", {"o": 1}, "staging")
    assert got == api.get(f"/traces/{trace_id}").json()
    assert Trace.objects.get(pk=trace_id).latency_ms == 4000.0


def test_patch_span_returns_the_span_and_merges_metadata(api, ingest):
    span = span_body(metadata={"a": 1}, kind="LLM", started_at="2026-01-01T00:00:00Z")
    trace_id = ingest(trace_body(span))
    response = api.patch(
        f"/traces/{trace_id}/spans/{span['span_id']}",
        {
            "metadata": {"b": 2},
            "status": "OK",
            "ended_at": "2026-01-01T00:00:01.5Z",
            "completion_start_time": "2026-01-01T00:00:00.25Z",
            "output": {"text": "done"},
        },  # fmt: skip
        format="json",
    )
    assert response.status_code == 200
    got = response.json()
    assert (got["span_id"], got["trace_id"], got["kind"], got["status"]) == (
        span["span_id"], trace_id, "LLM", "OK",
    )  # fmt: skip
    assert got["metadata"] == {"a": 1, "b": 2} and got["output"] == {"text": "done"}
    assert (got["latency_ms"], got["time_to_first_token_ms"]) == (1500.0, 250.0)


def test_post_spans_answers_201_with_their_ids_and_upserts(api, ingest):
    existing = span_body(name="old", metadata={"a": 1})
    trace_id = ingest(trace_body(existing))
    new = span_body(name="new", parent_span_id=existing["span_id"])
    update = {**existing, "name": "renamed", "metadata": {"b": 2}}
    response = api.post(f"/traces/{trace_id}/spans", [new, update], format="json")

    assert response.status_code == 201
    assert response.json() == {"span_ids": [new["span_id"], existing["span_id"]]}
    spans = {s["span_id"]: s for s in api.get(f"/traces/{trace_id}").json()["spans"]}
    assert spans[existing["span_id"]]["name"] == "renamed"
    assert spans[existing["span_id"]]["metadata"] == {"a": 1, "b": 2}
    assert spans[new["span_id"]]["parent_span_id"] == existing["span_id"]


def test_post_spans_without_ids_gets_new_ones(api, ingest):
    trace_id = ingest(trace_body())
    body = [{"name": "a", "started_at": "2026-01-01T00:00:00Z"}]
    span_ids = api.post(f"/traces/{trace_id}/spans", body, format="json").json()["span_ids"]
    assert len(span_ids) == 1 and Span.objects.filter(span_id=span_ids[0], trace_id=trace_id).exists()


def test_delete_trace_removes_it_and_its_spans(api, ingest):
    trace_id = ingest(trace_body(span_body(), span_body()))
    response = api.delete(f"/traces/{trace_id}")
    assert response.status_code == 204 and not response.content
    assert not Trace.objects.filter(pk=trace_id).exists() and Span.objects.count() == 0
    assert api.get(f"/traces/{trace_id}").status_code == 404


def test_batch_delete_counts_only_the_projects_traces(api, project, other_project):
    mine = TraceFactory.create_batch(3, project=project)
    theirs = TraceFactory(project=other_project)
    SpanFactory(trace=mine[0])
    ids = [str(t.pk) for t in [mine[0], mine[1], theirs]] + [str(uuid.uuid4())]
    response = api.post("/traces/batch/delete", {"trace_ids": ids}, format="json")
    assert response.status_code == 200 and response.json() == {"deleted": 2}
    assert list(Trace.objects.filter(project=project)) == [mine[2]]
    assert Trace.objects.filter(pk=theirs.pk).exists()


def test_batch_tags_adds_then_removes(api, project, other_project):
    one = TraceFactory(project=project, tags=["keep", "drop"])
    two = TraceFactory(project=project, tags=[])
    theirs = TraceFactory(project=other_project, tags=["drop"])
    response = api.post(
        "/traces/batch/tags",
        {
            "trace_ids": [str(one.pk), str(two.pk), str(theirs.pk)],
            "add_tags": ["new", "drop"],
            "remove_tags": ["drop"],
        },  # fmt: skip
        format="json",
    )
    assert response.status_code == 200 and response.json() == {"updated": 2}
    one.refresh_from_db(), two.refresh_from_db(), theirs.refresh_from_db()
    assert (one.tags, two.tags, theirs.tags) == (["keep", "new"], ["new"], ["drop"])


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda span: services.span_update(access=ProjectAccess.system(span.trace.project), span=span, data={"name": "x"}), id="span-update"),
        pytest.param(
            lambda span: services.spans_add(access=ProjectAccess.system(span.trace.project), trace=span.trace, spans_data=[span_body()]), id="spans-add"
        ),
        pytest.param(lambda span: services.trace_update(access=ProjectAccess.system(span.trace.project), trace=span.trace, data={"name": "x"}), id="update"),
    ],
)
def test_a_write_to_a_trace_deleted_meanwhile_is_a_404_not_a_500(project, write):
    """The view found the row, then another request deleted it before the service locked it."""
    span = SpanFactory(trace=TraceFactory(project=project))
    Trace.objects.filter(pk=span.trace_id).delete()
    with pytest.raises(NotFound) as caught:
        write(span)
    response = exception_handler(caught.value, {"request": APIRequestFactory().get("/")})
    assert response.status_code == 404 and response.data == {"detail": "Trace not found"}
    assert Span.objects.count() == 0
