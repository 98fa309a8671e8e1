"""One project never sees or touches another's traces, spans or sessions."""

import pytest

from pandaprobe.traces.models import Span, Trace

from ..factories import SpanFactory, TraceFactory
from .conftest import span_body, trace_body


@pytest.fixture
def theirs(other_project):
    """A trace of the other project, with a span and a session."""
    trace = TraceFactory(project=other_project, session_id="shared-session", tags=["t"], name="secret")
    return SpanFactory(trace=trace)


def _snapshot(span: Span) -> tuple:
    trace = Trace.objects.get(pk=span.trace_id)
    stored = Span.objects.get(pk=span.pk)
    return (
        trace.name,
        trace.tags,
        trace.metadata,
        trace.status,
        trace.span_count,
        stored.name,
        stored.metadata,
    )


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("get", "/traces/{trace}", None),
        ("patch", "/traces/{trace}", {"name": "hijacked", "tags": ["x"]}),
        ("delete", "/traces/{trace}", None),
        ("post", "/traces/{trace}/spans", [span_body(name="hijacked")]),
        ("patch", "/traces/{trace}/spans/{span}", {"name": "hijacked"}),
        ("get", "/sessions/shared-session", None),
        ("delete", "/sessions/shared-session", None),
    ],
)
def test_another_projects_ids_answer_404_and_change_nothing(api, theirs, method, path, body):
    before = _snapshot(theirs)
    url = path.format(trace=theirs.trace_id, span=theirs.span_id)
    response = getattr(api, method)(url, body, format="json")
    assert response.status_code == 404, response.content
    assert set(response.json()) == {"detail"}
    assert _snapshot(theirs) == before


def test_the_owner_reaches_the_same_routes(other_api, theirs):
    """The 404s above come from scoping, not from broken routes."""
    assert other_api.get(f"/traces/{theirs.trace_id}").status_code == 200
    assert other_api.get("/sessions/shared-session").status_code == 200
    response = other_api.patch(
        f"/traces/{theirs.trace_id}/spans/{theirs.span_id}", {"name": "x"}, format="json"
    )
    assert response.status_code == 200


def test_a_span_id_of_another_trace_in_the_path_is_404(api, project, theirs):
    mine = TraceFactory(project=project)
    response = api.patch(f"/traces/{mine.pk}/spans/{theirs.span_id}", {"name": "x"}, format="json")
    assert response.status_code == 404


def test_lists_never_show_another_projects_traces_or_sessions(api, project, theirs):
    TraceFactory(project=project, name="mine", session_id="mine-session")
    traces = api.get("/traces?limit=200").json()
    assert [t["name"] for t in traces["items"]] == ["mine"] and traces["total"] == 1
    assert api.get("/traces?session_id=shared-session").json()["total"] == 0
    assert api.get("/traces?tags=t").json()["total"] == 0
    sessions = api.get("/sessions?limit=200").json()
    assert [s["session_id"] for s in sessions["items"]] == ["mine-session"] and sessions["total"] == 1
    assert api.get("/sessions?query=shared").json()["items"] == []


def test_a_session_id_used_by_both_projects_shows_only_ones_own(api, project, theirs):
    TraceFactory(project=project, session_id="shared-session", tags=["mine"])
    body = api.get("/sessions/shared-session").json()
    assert (body["trace_count"], body["tags"]) == (1, ["mine"])
    assert [t["project_id"] for t in body["traces"]] == [str(project.pk)]
    assert api.delete("/sessions/shared-session").json() == {"deleted": 1}
    assert Trace.objects.filter(pk=theirs.trace_id).exists()


def test_batch_writes_skip_another_projects_traces(api, theirs):
    before = _snapshot(theirs)
    ids = {"trace_ids": [str(theirs.trace_id)]}
    assert api.post(
        "/traces/batch/tags", {**ids, "add_tags": ["x"], "remove_tags": ["t"]}, format="json"
    ).json() == {"updated": 0}
    assert api.post("/traces/batch/delete", ids, format="json").json() == {"deleted": 0}
    assert _snapshot(theirs) == before


def test_posting_another_projects_trace_id_is_409_and_leaves_it_unchanged(api, theirs):
    before = _snapshot(theirs)
    body = trace_body(
        span_body(span_id=str(theirs.span_id), name="hijacked", metadata={"x": 1}),
        trace_id=str(theirs.trace_id),
        name="hijacked",
        tags=["x"],
        metadata={"x": 1},
        status="ERROR",
    )
    response = api.post("/traces", body, format="json")
    assert response.status_code == 409
    assert response.json() == {"detail": "This trace_id belongs to another project"}
    assert _snapshot(theirs) == before
    assert Trace.objects.filter(project=api.project).count() == 0
