"""Deleting a trace, a batch of traces or a session deletes their trace and session scores, each
with a "delete" history event naming who deleted it; scores of what remains are untouched."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evaluations.models import ScoreEvent, SessionScore, TraceScore
from pandaprobe.traces.models import Trace
from tests.factories import TraceFactory

pytestmark = pytest.mark.django_db


def score_trace(client, trace, name="accuracy", value="0.5", **extra) -> str:
    body = {"trace_id": str(trace.pk), "name": name, "value": value, "source": "PROGRAMMATIC", **extra}
    response = client.post("/evaluations/trace-scores", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def score_session(client, session_id, name="reliability", value="0.9") -> str:
    body = {"session_id": session_id, "name": name, "value": value, "source": "PROGRAMMATIC"}
    response = client.post("/evaluations/session-scores", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def delete_events(score_ids) -> dict:
    events = ScoreEvent.objects.filter(score_id__in=score_ids, action=ScoreEvent.Action.DELETE)
    return {str(event.score_id): event for event in events}


def test_deleting_a_trace_deletes_its_scores_with_an_event_each_by_the_deleter(api, project):
    trace, kept = TraceFactory(project=project), TraceFactory(project=project)
    doomed = [
        score_trace(api, trace, "accuracy", "0.25", reason="why", metadata={"k": [1]}),
        score_trace(api, trace, "tone", "0.75"),
    ]
    survivor = score_trace(api, kept)

    assert api.delete(f"/traces/{trace.pk}").status_code == 204

    assert not TraceScore.objects.filter(pk__in=doomed).exists()
    assert TraceScore.objects.filter(pk=survivor).exists()
    events = delete_events(doomed)
    assert set(events) == set(doomed)
    accuracy = events[doomed[0]]
    assert (accuracy.target, accuracy.trace_id, accuracy.score_name) == ("TRACE", trace.pk, "accuracy")
    assert (accuracy.old_value, accuracy.old_source, accuracy.old_status) == ("0.25", "PROGRAMMATIC", "SUCCESS")
    assert (accuracy.old_reason, accuracy.old_metadata) == ("why", {"k": [1]})
    assert (accuracy.new_value, accuracy.new_source, accuracy.new_reason, accuracy.new_metadata) == (None,) * 4
    assert accuracy.created_at is not None and accuracy.project_id == project.pk
    assert accuracy.actor_label.startswith("api-key:")
    assert accuracy.actor_api_key is not None and accuracy.actor_user is None
    assert not delete_events([survivor])


def test_the_deleted_scores_history_ends_with_the_delete(api, project):
    trace = TraceFactory(project=project)
    score_id = score_trace(api, trace)
    api.delete(f"/traces/{trace.pk}")
    history = api.get(f"/evaluations/trace-scores/{score_id}/history").json()
    assert [event["action"] for event in history] == ["create", "delete"]
    assert history[-1]["actor"]["type"] == "api_key"


def test_batch_delete_names_the_admin_who_did_it(api, bearer_client, admin_user, project):
    traces = [TraceFactory(project=project) for _ in range(3)]
    scores = [score_trace(api, trace) for trace in traces]
    client = bearer_client(admin_user, project)

    body = {"trace_ids": [str(traces[0].pk), str(traces[1].pk)]}
    response = client.post("/traces/batch/delete", body, format="json")

    assert response.status_code == 200 and response.json() == {"deleted": 2}
    events = delete_events(scores)
    assert set(events) == set(scores[:2])
    assert {event.actor_user for event in events.values()} == {admin_user}
    assert TraceScore.objects.filter(pk=scores[2]).exists()


def test_deleting_a_session_deletes_its_session_scores_and_its_traces_scores(api, project, other_project):
    traces = [TraceFactory(project=project, session_id="chat-1") for _ in range(2)]
    other = TraceFactory(project=project, session_id="chat-2")
    TraceFactory(project=other_project, session_id="chat-1")  # same id, another project
    trace_scores = [score_trace(api, trace) for trace in traces]
    session_scores = [score_session(api, "chat-1"), score_session(api, "chat-1", "stability")]
    kept = [score_trace(api, other), score_session(api, "chat-2")]
    foreign = SessionScore.objects.create(project=other_project, session_id="chat-1", name="x", value="1")

    response = api.delete("/sessions/chat-1")

    assert response.status_code == 200 and response.json() == {"deleted": 2}
    assert not TraceScore.objects.filter(pk__in=trace_scores).exists()
    assert not SessionScore.objects.filter(pk__in=session_scores).exists()
    events = delete_events(trace_scores + session_scores)
    assert set(events) == set(trace_scores + session_scores)
    session_event = events[session_scores[0]]
    assert (session_event.target, session_event.session_id, session_event.old_value) == ("SESSION", "chat-1", "0.9")
    assert session_event.actor_api_key is not None
    assert TraceScore.objects.filter(pk=kept[0]).exists() and SessionScore.objects.filter(pk=kept[1]).exists()
    assert SessionScore.objects.filter(pk=foreign.pk).exists()
    assert not delete_events(kept + [str(foreign.pk)])


def test_a_session_keeps_its_scores_while_it_has_traces(api, project):
    first, second = (TraceFactory(project=project, session_id="chat-1") for _ in range(2))
    session_score = score_session(api, "chat-1")

    api.delete(f"/traces/{first.pk}")
    assert SessionScore.objects.filter(pk=session_score).exists()
    assert not delete_events([session_score])

    api.delete(f"/traces/{second.pk}")  # the session's last trace: the session is gone
    assert not SessionScore.objects.filter(pk=session_score).exists()
    assert set(delete_events([session_score])) == {session_score}


def test_batch_delete_of_a_whole_session_deletes_its_session_scores(api, project):
    traces = [TraceFactory(project=project, session_id="chat-1") for _ in range(2)]
    TraceFactory(project=project, session_id="chat-2")
    gone, kept = score_session(api, "chat-1"), score_session(api, "chat-2")
    ids = [str(trace.pk) for trace in traces]
    assert api.post("/traces/batch/delete", {"trace_ids": ids}, format="json").status_code == 200
    assert not SessionScore.objects.filter(pk=gone).exists() and set(delete_events([gone])) == {gone}
    assert SessionScore.objects.filter(pk=kept).exists()


def test_a_page_delete_of_a_score_and_a_trace_delete_never_both_write_a_delete_event(api, project):
    trace = TraceFactory(project=project)
    score_id = score_trace(api, trace)
    assert api.delete(f"/evaluations/trace-scores/{score_id}").status_code == 204
    api.delete(f"/traces/{trace.pk}")
    assert ScoreEvent.objects.filter(score_id=score_id, action="delete").count() == 1


def _bulk_scores(project, trace, count: int) -> None:
    TraceScore.objects.bulk_create(
        TraceScore(project=project, trace=trace, name=f"m{i % 7}", value="0.5", numeric_value=0.5)
        for i in range(count)
    )


def test_the_purge_costs_no_query_per_score(api, project):
    few, many = TraceFactory(project=project), TraceFactory(project=project)
    _bulk_scores(project, few, 3)
    _bulk_scores(project, many, 300)

    with CaptureQueriesContext(connection) as small:
        assert api.delete(f"/traces/{few.pk}").status_code == 204
    with CaptureQueriesContext(connection) as large:
        assert api.delete(f"/traces/{many.pk}").status_code == 204
    # One locking read, one INSERT ... SELECT of events, one DELETE, whatever the count.
    assert len(large) == len(small), [q["sql"][:80] for q in large]
    assert ScoreEvent.objects.filter(action="delete").count() == 303
    assert not Trace.objects.filter(pk__in=[few.pk, many.pk]).exists()
