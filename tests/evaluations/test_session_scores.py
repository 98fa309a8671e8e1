"""Session-score API: create, edit, list, per-session, delete; rules, history, isolation."""

from datetime import timedelta

import pytest
from django.utils import timezone

from evaluations.models import ScoreConfig, ScoreEvent, SessionScore
from tests.errors import error_locs, rule_fields
from tests.factories import TraceFactory

pytestmark = pytest.mark.django_db

URL = "/evaluations/session-scores"
RESPONSE_FIELDS = {
    "id", "session_id", "project_id", "name", "data_type", "value", "source", "status", "eval_run_id",
    "author_user_id", "reason", "metadata", "created_at", "updated_at",
}  # fmt: skip


@pytest.fixture
def session(project):
    TraceFactory(project=project, session_id="chat-1")
    return "chat-1"


def post(client, **body):
    return client.post(URL, body, format="json")


def test_create_returns_the_reference_shape(api, project, session):
    response = post(
        api, session_id=session, name="reliability", value="0.85", reason="fine", metadata={"k": 1}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == RESPONSE_FIELDS
    assert body["project_id"] == str(project.pk) and body["session_id"] == "chat-1"
    assert (body["value"], body["data_type"], body["source"], body["status"]) == (
        "0.85",
        "NUMERIC",
        "ANNOTATION",
        "SUCCESS",
    )
    assert (body["author_user_id"], body["eval_run_id"], body["metadata"]) == (None, None, {"k": 1})
    score = SessionScore.objects.get()
    assert score.numeric_value == 0.85
    event = ScoreEvent.objects.get()
    assert (event.target, event.session_id, event.action, event.new_value) == (
        "SESSION",
        "chat-1",
        "create",
        "0.85",
    )
    assert event.actor_label.startswith("api-key:") and event.actor_user is None


def test_a_users_score_names_its_author(bearer_client, admin_user, project, session):
    response = post(bearer_client(admin_user, project), session_id=session, name="ok", value="TRUE",
                    data_type="BOOLEAN", source="PROGRAMMATIC")  # fmt: skip
    assert response.status_code == 201
    body = response.json()
    assert (body["author_user_id"], body["value"], body["source"]) == (
        str(admin_user.pk),
        "true",
        "PROGRAMMATIC",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "value": "0.5"}, "session_id"),
        ({"session_id": "chat-1", "value": "0.5"}, "name"),
        ({"session_id": "chat-1", "name": "x"}, "value"),
        ({"session_id": "chat-1", "name": "x", "value": "0.5", "data_type": "TEXT"}, "data_type"),
        ({"session_id": "chat-1", "name": "x", "value": "0.5", "metadata": [1]}, "metadata"),
        ({"session_id": "chat-1", "name": "x", "value": "0.5", "config_id": "nope"}, "config_id"),
    ],
)
def test_bad_body_is_a_422_naming_the_field(api, session, body, field):
    assert field in error_locs(post(api, **body))
    assert SessionScore.objects.count() == 0 and ScoreEvent.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        {"session_id": "chat-1", "name": "x", "value": "1.5"},
        {"session_id": "chat-1", "name": "x", "value": "yes", "data_type": "BOOLEAN"},
    ],
)
def test_a_value_its_type_refuses_is_a_rule_422_naming_value(api, session, body):
    assert rule_fields(post(api, **body)) == {"value"}
    assert SessionScore.objects.count() == 0 and ScoreEvent.objects.count() == 0


def test_unknown_or_foreign_session_is_404(api, other_api, session):
    assert post(api, session_id="no-such-chat", name="x", value="0.5").status_code == 404
    assert post(other_api, session_id=session, name="x", value="0.5").status_code == 404
    assert SessionScore.objects.count() == 0


def test_config_gives_the_type_and_the_rules(api, other_api, project, other_project, session):
    verdict = ScoreConfig.objects.create(project=project, name="verdict", data_type="CATEGORICAL",
                                         categories=["PASS", "FAIL"])  # fmt: skip
    assert "value" in rule_fields(
        post(api, session_id=session, name="verdict", value="MAYBE", config_id=str(verdict.pk))
    )
    created = post(api, session_id=session, name="verdict", value="PASS", config_id=str(verdict.pk))
    assert created.status_code == 201 and created.json()["data_type"] == "CATEGORICAL"
    foreign = ScoreConfig.objects.create(project=other_project, name="theirs", data_type="NUMERIC")
    assert "config_id" in rule_fields(
        post(api, session_id=session, name="x", value="0.5", config_id=str(foreign.pk))
    )
    mismatch = post(
        api, session_id=session, name="x", value="0.5", data_type="NUMERIC", config_id=str(verdict.pk)
    )
    assert "data_type" in rule_fields(mismatch)


def test_patch_forces_success_annotation_and_records_history(bearer_client, admin_user, api, project, session):
    score_id = post(api, session_id=session, name="reliability", value="0.2", source="PROGRAMMATIC",
                    reason="auto", metadata={"a": 1}).json()["id"]  # fmt: skip
    SessionScore.objects.filter(pk=score_id).update(
        status="FAILED", updated_at=timezone.now() - timedelta(hours=1)
    )
    before = SessionScore.objects.get(pk=score_id).updated_at
    response = bearer_client(admin_user, project).patch(f"{URL}/{score_id}", {"value": "0.9"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["value"], body["status"], body["source"]) == ("0.9", "SUCCESS", "ANNOTATION")
    assert (body["reason"], body["metadata"], body["author_user_id"]) == ("auto", {"a": 1}, str(admin_user.pk))
    assert SessionScore.objects.get(pk=score_id).updated_at > before
    cleared = api.patch(f"{URL}/{score_id}", {"reason": None, "metadata": {"b": 2}}, format="json").json()
    assert (cleared["reason"], cleared["metadata"], cleared["value"]) == (None, {"b": 2}, "0.9")
    actions = list(
        ScoreEvent.objects.filter(score_id=score_id).order_by("id").values_list("action", "new_value")
    )
    assert actions == [("create", "0.2"), ("update", "0.9"), ("update", "0.9")]


def test_patch_validates_and_is_scoped(api, other_api, session):
    score_id = post(api, session_id=session, name="reliability", value="0.2").json()["id"]
    assert "value" in rule_fields(api.patch(f"{URL}/{score_id}", {"value": "2"}, format="json"))
    # As for trace scores, only value, reason and metadata are editable: other keys are ignored.
    assert api.patch(f"{URL}/{score_id}", {"name": "renamed"}, format="json").status_code == 200
    assert SessionScore.objects.get(pk=score_id).name == "reliability"
    assert other_api.patch(f"{URL}/{score_id}", {"value": "0.1"}, format="json").status_code == 404
    # Not a score id: the URL names a session, which has no PATCH.
    refused = api.patch(f"{URL}/not-a-uuid", {"value": "0.1"}, format="json")
    assert refused.status_code == 405 and refused["Allow"] == "GET, HEAD, OPTIONS"
    assert SessionScore.objects.get(pk=score_id).value == "0.2"


def test_list_filters_and_envelope(api, project, session):
    TraceFactory(project=project, session_id="chat-2")
    post(api, session_id=session, name="reliability", value="0.1")
    post(api, session_id="chat-2", name="reliability", value="0.2", source="PROGRAMMATIC")
    post(api, session_id="chat-2", name="consistency", value="0.3")
    page = api.get(URL).json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 50, 0)
    assert [item["value"] for item in page["items"]] == ["0.3", "0.2", "0.1"]  # newest first
    assert api.get(URL, {"session_id": "chat-2"}).json()["total"] == 2
    assert api.get(URL, {"name": "reliability"}).json()["total"] == 2
    assert api.get(URL, {"source": "PROGRAMMATIC"}).json()["total"] == 1
    assert api.get(URL, {"status": "SUCCESS", "limit": 1, "offset": 1}).json()["items"][0]["value"] == "0.2"
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    assert api.get(URL, {"date_from": future}).json()["total"] == 0
    assert api.get(URL, {"date_to": future}).json()["total"] == 3
    assert error_locs(api.get(URL, {"source": "HUMAN"})) == ["source"]
    assert error_locs(api.get(URL, {"eval_run_id": "x"})) == ["eval_run_id"]
    assert error_locs(api.get(URL, {"limit": 0})) == ["limit"]
    # Times that exist only outside UTC's calendar: the database adapters overflowed (a 500).
    for bad_time in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        assert error_locs(api.get(URL, {"date_from": bad_time})) == ["date_from"]


def test_list_is_scoped_and_constant_in_queries(
    api, other_api, project, session, django_assert_max_num_queries
):
    for index in range(20):
        post(api, session_id=session, name=f"m{index}", value="0.5")
    assert other_api.get(URL).json()["total"] == 0
    with django_assert_max_num_queries(5):
        assert len(api.get(URL).json()["items"]) == 20


def test_scores_of_one_session(api, other_api, project, session):
    post(api, session_id=session, name="reliability", value="0.1")
    post(api, session_id=session, name="reliability", value="0.4")
    body = api.get(f"{URL}/{session}").json()
    assert [item["value"] for item in body] == ["0.4", "0.1"]
    TraceFactory(project=project, session_id="quiet")
    assert api.get(f"{URL}/quiet").json() == []
    assert api.get(f"{URL}/no-such-chat").status_code == 404
    assert other_api.get(f"{URL}/{session}").status_code == 404


def test_delete_keeps_the_history(api, other_api, session):
    score_id = post(api, session_id=session, name="reliability", value="0.1").json()["id"]
    assert other_api.delete(f"{URL}/{score_id}").status_code == 404
    assert api.delete(f"{URL}/{score_id}").status_code == 204
    assert not SessionScore.objects.filter(pk=score_id).exists()
    assert list(ScoreEvent.objects.filter(score_id=score_id).values_list("action", flat=True)) == [
        "create",
        "delete",
    ]
    assert api.delete(f"{URL}/{score_id}").status_code == 404


def test_openapi_documents_the_endpoints(anon):
    paths = anon.get("/openapi.json").json()["paths"]
    assert {"post", "get"} <= set(paths["/evaluations/session-scores"])
    # GET takes a session id, PATCH and DELETE a score id (uuid), as in the reference.
    assert set(paths["/evaluations/session-scores/{session_id}"]) == {"get"}
    assert set(paths["/evaluations/session-scores/{score_id}"]) == {"patch", "delete"}
    (score_id,) = paths["/evaluations/session-scores/{score_id}"]["patch"]["parameters"]
    assert score_id["in"] == "path" and score_id["schema"] == {"type": "string", "format": "uuid"}
    assert {"get", "post"} <= set(paths["/evaluations/score-configs"])
    assert {"get", "patch", "delete"} <= set(paths["/evaluations/score-configs/{config_id}"])
