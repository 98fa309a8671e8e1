"""Identifiers a client sends: control characters are refused at ingestion (422 naming the field), and
a session id holding "/" works in every API route (the page side: tests/evaluations/test_pages_links.py)."""

from urllib.parse import quote

import pytest

from evaluations.models import SessionScore
from pandaprobe.traces.models import Trace

from ..factories import TraceFactory
from .conftest import span_body, trace_body

CONTROL_CHARACTERS = ["\n", "\t", "\r", "\x1b", "\x7f", "\x85", "\x9f"]


def refused(response, field: str) -> bool:
    return response.status_code == 422 and field in response.content.decode()


@pytest.mark.parametrize("char", CONTROL_CHARACTERS, ids=repr)
@pytest.mark.parametrize("field", ["session_id", "user_id", "environment", "release"])
def test_ingestion_refuses_control_characters_in_ids(api, field, char):
    response = api.post("/traces", trace_body(**{field: f"a{char}b"}), format="json")
    assert refused(response, field), response.content
    assert not Trace.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (trace_body(tags=["ok", "new\nline"]), "tags"),
        (trace_body(span_body(model="gpt\n4")), "model"),
        (trace_body(session_id="."), "session_id"),
        (trace_body(session_id=".."), "session_id"),
        (trace_body(session_id=""), "session_id"),
    ],
    ids=["tag", "span-model", "dot", "dot-dot", "empty"],
)
def test_ingestion_refuses_ids_that_break_pages_or_paths(api, body, field):
    response = api.post("/traces", body, format="json")
    assert refused(response, field), response.content
    assert not Trace.objects.exists()


def test_the_same_rules_hold_when_a_trace_is_patched_or_retagged(api, ingest):
    trace_id = ingest(trace_body(session_id="chat-1", tags=["a"]))
    assert refused(api.patch(f"/traces/{trace_id}", {"session_id": "a\u0085b"}, format="json"), "session_id")
    assert refused(api.patch(f"/traces/{trace_id}", {"tags": ["\x00"]}, format="json"), "tags")
    batch = {"trace_ids": [trace_id], "add_tags": ["bad\ttag"]}
    assert refused(api.post("/traces/batch/tags", batch, format="json"), "add_tags")
    trace = Trace.objects.get()
    assert (trace.session_id, trace.tags) == ("chat-1", ["a"])


@pytest.mark.parametrize("session_id", ["a\u00a0b", "../../admin", "x/score", "💬 chat", "100%", "a?b#c"])
def test_printable_ids_are_kept_as_sent(api, ingest, session_id):
    ingest(trace_body(session_id=session_id, user_id=session_id, tags=[session_id]))
    trace = Trace.objects.get()
    assert trace.session_id == trace.user_id == trace.tags[0] == session_id


def test_a_session_id_with_slashes_works_in_every_session_route(api, ingest):
    session_id = "team/a/../b"
    path = quote(session_id, safe="")
    ingest(trace_body(session_id=session_id))
    ingest(trace_body(session_id="team"))  # a prefix of it, which must not answer for it

    assert api.get(f"/sessions/{path}").json()["session_id"] == session_id
    created = api.post(
        "/evaluations/session-scores", {"session_id": session_id, "name": "r", "value": "1"}, format="json"
    )
    assert created.status_code == 201, created.content
    scores = api.get(f"/evaluations/session-scores/{path}").json()
    assert [score["session_id"] for score in scores] == [session_id]
    score_id = created.json()["id"]
    assert api.patch(f"/evaluations/session-scores/{score_id}", {"value": "0"}, format="json").status_code == 200
    listed = api.get("/evaluations/session-scores", {"session_id": session_id}).json()
    assert listed["total"] == 1

    assert api.delete(f"/sessions/{path}").json() == {"deleted": 1}
    assert api.get(f"/sessions/{path}").status_code == 404
    assert not SessionScore.objects.exists()
    assert Trace.objects.get().session_id == "team"


def test_a_session_stored_before_the_rule_can_still_be_read_and_deleted(api, project):
    TraceFactory(project=project, session_id="line\nbreak")
    assert api.get("/sessions/line%0Abreak").json()["session_id"] == "line\nbreak"
    assert api.get("/evaluations/session-scores/line%0Abreak").json() == []
    assert api.delete("/sessions/line%0Abreak").json() == {"deleted": 1}
