"""The edit history of trace scores: who changed what, kept after deletion for admins."""

import uuid

import pytest

from ..factories import TraceFactory, TraceScoreFactory

URL = "/evaluations/trace-scores"


@pytest.fixture
def trace(project):
    return TraceFactory(project=project)


def history(client, score_id):
    response = client.get(f"{URL}/{score_id}/history")
    assert response.status_code == 200, response.json()
    return response.json()


def test_create_edit_delete_are_recorded_with_actor_and_changes(api, bearer_client, admin_user, project, trace):
    created = api.post(
        URL,
        {
            "trace_id": str(trace.pk),
            "name": "accuracy",
            "value": "0.4",
            "source": "PROGRAMMATIC",
            "reason": "sdk",
        },
        format="json",
    ).json()
    reviewer_client = bearer_client(admin_user, project)
    reviewer_client.patch(f"{URL}/{created['id']}", {"value": "0.9", "reason": "checked"}, format="json")
    events = history(api, created["id"])
    assert [e["action"] for e in events] == ["create", "update"]
    create, update = events
    key = api.project.api_keys.get()
    assert create["actor"] == {"type": "api_key", "id": str(key.pk), "label": f"api-key:{key.key_prefix}"}
    assert (create["old_value"], create["new_value"]) == (None, "0.4")
    assert (create["new_source"], create["new_status"], create["new_reason"]) == (
        "PROGRAMMATIC",
        "SUCCESS",
        "sdk",
    )
    assert update["actor"] == {"type": "user", "id": str(admin_user.pk), "label": "owner"}
    assert (update["old_value"], update["new_value"]) == ("0.4", "0.9")
    assert (update["old_reason"], update["new_reason"]) == ("sdk", "checked")
    assert (update["old_source"], update["new_source"]) == ("PROGRAMMATIC", "ANNOTATION")
    assert update["created_at"] >= create["created_at"]

    assert api.delete(f"{URL}/{created['id']}").status_code == 204
    events = history(api, created["id"])  # an API key counts as admin
    assert [e["action"] for e in events] == ["create", "update", "delete"]
    assert (events[2]["old_value"], events[2]["new_value"]) == ("0.9", None)
    assert events[2]["actor"]["type"] == "api_key"


def test_history_item_shape(api, trace):
    score_id = api.post(URL, {"trace_id": str(trace.pk), "name": "a", "value": "1"}, format="json").json()[
        "id"
    ]
    (event,) = history(api, score_id)
    assert {"action", "actor", "created_at", "old_value", "new_value", "old_reason", "new_reason", "old_source",
            "new_source", "old_status", "new_status", "old_metadata", "new_metadata"} <= set(event)  # fmt: skip
    assert set(event["actor"]) == {"type", "id", "label"}


def test_failed_patch_records_nothing(api, trace):
    score_id = api.post(URL, {"trace_id": str(trace.pk), "name": "a", "value": "1"}, format="json").json()[
        "id"
    ]
    assert api.patch(f"{URL}/{score_id}", {"value": "7"}, format="json").status_code == 422
    assert [e["action"] for e in history(api, score_id)] == ["create"]


def test_metadata_change_is_recorded(api, trace):
    score_id = api.post(
        URL, {"trace_id": str(trace.pk), "name": "a", "value": "1", "metadata": {"v": 1}}, format="json"
    ).json()["id"]
    api.patch(f"{URL}/{score_id}", {"metadata": {"v": 2}}, format="json")
    update = history(api, score_id)[1]
    assert (update["old_metadata"], update["new_metadata"]) == ({"v": 1}, {"v": 2})


@pytest.mark.parametrize("role_fixture", ["admin_user", "reviewer"])
def test_live_score_history_is_readable_by_members(request, bearer_client, api, project, trace, role_fixture):
    user = request.getfixturevalue(role_fixture)
    score_id = api.post(URL, {"trace_id": str(trace.pk), "name": "a", "value": "1"}, format="json").json()[
        "id"
    ]
    assert len(history(bearer_client(user, project), score_id)) == 1


def test_deleted_score_history_is_admin_only(bearer_client, api, admin_user, reviewer, project, trace):
    score_id = api.post(URL, {"trace_id": str(trace.pk), "name": "a", "value": "1"}, format="json").json()[
        "id"
    ]
    api.delete(f"{URL}/{score_id}")
    assert [e["action"] for e in history(bearer_client(admin_user, project), score_id)] == [
        "create",
        "delete",
    ]
    assert bearer_client(reviewer, project).get(f"{URL}/{score_id}/history").status_code == 404


def test_score_deleted_with_its_trace_counts_as_deleted(bearer_client, api, reviewer, project, trace):
    score_id = api.post(URL, {"trace_id": str(trace.pk), "name": "a", "value": "1"}, format="json").json()[
        "id"
    ]
    trace.delete()
    assert bearer_client(reviewer, project).get(f"{URL}/{score_id}/history").status_code == 404
    assert [e["action"] for e in history(api, score_id)] == ["create"]


def test_history_of_another_projects_score_is_404(api, other_api, trace):
    score_id = api.post(URL, {"trace_id": str(trace.pk), "name": "a", "value": "1"}, format="json").json()[
        "id"
    ]
    assert other_api.get(f"{URL}/{score_id}/history").status_code == 404
    assert api.get(f"{URL}/{uuid.uuid4()}/history").status_code == 404


def test_score_without_history_is_404(api, trace):
    # A score written without the services (e.g. a raw import) has no events to show.
    score = TraceScoreFactory(trace=trace)
    assert api.get(f"{URL}/{score.pk}/history").status_code == 404
