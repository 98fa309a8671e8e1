"""The score services as the judge will call them: a system actor sets source, status and run;
nobody else may, through the services or through the API."""

import uuid

import pytest
from django.core.exceptions import ValidationError

from evaluations.api.serializers import event_actor
from evaluations.models import ScoreConfig, ScoreEvent, SessionScore, TraceScore
from evaluations.services.scores import trace_score_create
from evaluations.services.session_scores import session_score_create
from pandaprobe.errors import PermissionDenied
from pandaprobe.projects.access import ProjectAccess
from pandaprobe.projects.models import Membership
from pandaprobe.projects.services import api_key_create

from ..factories import TraceFactory, eval_run

RUN = uuid.UUID("6f1c2b9e-0000-4000-8000-000000000001")


@pytest.fixture(autouse=True)
def _run(project):
    eval_run(project, pk=RUN)


@pytest.fixture
def trace(project):
    return TraceFactory(project=project, session_id="chat-1", environment="prod")


@pytest.fixture
def system(project) -> ProjectAccess:
    return ProjectAccess.system(project)


def judge_failure(access, trace, **overrides) -> TraceScore:
    fields = {
        "name": "faithfulness", "value": None, "source": "AUTOMATED", "status": "FAILED",
        "eval_run_id": RUN, "reason": "the judge's answer was not JSON",
    }  # fmt: skip
    return trace_score_create(access=access, trace_id=trace.pk, **{**fields, **overrides})


def test_system_actor_creates_an_automated_failed_score_without_value_with_its_run(system, trace):
    score = judge_failure(system, trace)
    stored = TraceScore.objects.get(pk=score.pk)
    assert (stored.source, stored.status, stored.eval_run_id) == ("AUTOMATED", "FAILED", RUN)
    assert stored.value is None and stored.numeric_value is None
    assert stored.reason == "the judge's answer was not JSON" and stored.author_id is None
    assert stored.environment == "prod"


def test_the_create_event_names_the_system_actor(system, trace, api):
    score = judge_failure(system, trace)
    event = ScoreEvent.objects.get(score_id=score.pk)
    assert event.action == "create" and event.actor_user_id is None and event.actor_api_key_id is None
    assert (event.new_status, event.new_source, event.new_value) == ("FAILED", "AUTOMATED", None)
    assert event_actor(event) == {"type": "system", "id": None, "label": "system"}
    history = api.get(f"/evaluations/trace-scores/{score.pk}/history").json()
    assert [(e["action"], e["actor"]["type"]) for e in history] == [("create", "system")]


def test_system_actor_scores_a_session_pending_with_a_run_id_given_as_text(system, trace):
    score = session_score_create(
        access=system, session_id="chat-1", name="coherence", value=None, source="AUTOMATED",
        status="PENDING", eval_run_id=str(RUN),
    )  # fmt: skip
    stored = SessionScore.objects.get(pk=score.pk)
    assert (stored.status, stored.value, stored.eval_run_id) == ("PENDING", None, RUN)
    assert ScoreEvent.objects.get(score_id=score.pk).actor_label == "system"


def test_system_actor_success_score_is_validated_like_anyone_elses(system, trace):
    score = judge_failure(system, trace, status="SUCCESS", value="0.75", reason=None)
    assert (score.value, score.numeric_value, score.eval_run_id) == ("0.75", 0.75, RUN)
    with pytest.raises(ValidationError) as raised:
        judge_failure(system, trace, status="SUCCESS", value="7", reason=None)
    assert set(raised.value.message_dict) == {"value"}


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"value": "0.5"}, "value"),  # a FAILED score has no value
        ({"reason": None}, "reason"),  # ... and says why
        ({"reason": "  "}, "reason"),
        ({"status": "DONE"}, "status"),
        ({"eval_run_id": "run-7"}, "eval_run_id"),
        ({"data_type": "BOOLEAN", "config": "numeric"}, "data_type"),  # the config's type still holds
    ],
)
def test_bad_system_scores_are_refused_naming_the_field(system, trace, project, overrides, field):
    if overrides.get("config") == "numeric":
        overrides["config"] = ScoreConfig.objects.create(project=project, name="faithfulness")
    with pytest.raises(ValidationError) as raised:
        judge_failure(system, trace, **overrides)
    assert set(raised.value.message_dict) == {field}
    assert not TraceScore.objects.exists() and not ScoreEvent.objects.exists()


def _accesses(project, admin_user, reviewer):
    key = api_key_create(project=project, name="automation").api_key
    return {
        "api_key": ProjectAccess(project=project, api_key=key),
        "admin": ProjectAccess(project=project, user=admin_user, role=Membership.Role.ADMIN),
        "reviewer": ProjectAccess(project=project, user=reviewer, role=Membership.Role.REVIEWER),
    }


@pytest.mark.parametrize("actor", ["api_key", "admin", "reviewer"])
@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"status": "FAILED", "value": None, "source": "ANNOTATION"}, id="failed"),
        pytest.param({"status": "PENDING", "value": None, "source": "ANNOTATION"}, id="pending"),
        pytest.param(
            {"eval_run_id": RUN, "status": "SUCCESS", "value": "0.5", "source": "ANNOTATION"}, id="run"
        ),
        pytest.param({"eval_run_id": None, "status": "SUCCESS", "value": "0.5"}, id="automated"),
    ],
)
def test_only_the_system_actor_sets_source_automated_status_or_run(
    actor, overrides, project, admin_user, reviewer, trace
):
    access = _accesses(project, admin_user, reviewer)[actor]
    assert access.actor.value == actor
    with pytest.raises(PermissionDenied):
        judge_failure(access, trace, **overrides)
    assert not TraceScore.objects.exists() and not ScoreEvent.objects.exists()
    with pytest.raises(PermissionDenied):
        session_score_create(access=access, session_id="chat-1", **{
            "name": "coherence", "source": "AUTOMATED", "reason": "r", **overrides,
        })  # fmt: skip
    assert not SessionScore.objects.exists()


# --- through the API: clients cannot send them -----------------------------------------------------


def test_api_create_ignores_status_and_run_id_like_the_reference(api, trace):
    body = {
        "trace_id": str(trace.pk), "name": "accuracy", "value": "0.5", "status": "FAILED",
        "eval_run_id": str(RUN),
    }  # fmt: skip
    response = api.post("/evaluations/trace-scores", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "SUCCESS" and response.json()["eval_run_id"] is None
    stored = TraceScore.objects.get()
    assert stored.status == "SUCCESS" and stored.eval_run_id is None


@pytest.fixture(params=["api", "admin", "reviewer"])
def client(request, api, bearer_client, admin_user, reviewer, project):
    if request.param == "api":
        return api
    return bearer_client(admin_user if request.param == "admin" else reviewer, project)


def test_api_clients_cannot_create_automated_or_failed_scores(client, trace):
    automated = {"name": "accuracy", "value": "0.5", "source": "AUTOMATED"}
    response = client.post(
        "/evaluations/trace-scores", {**automated, "trace_id": str(trace.pk)}, format="json"
    )
    assert response.status_code == 422
    response = client.post(
        "/evaluations/session-scores", {**automated, "session_id": "chat-1"}, format="json"
    )
    assert response.status_code == 422
    sneaky = {"name": "accuracy", "value": "0.5", "status": "PENDING", "eval_run_id": str(RUN)}
    response = client.post("/evaluations/session-scores", {**sneaky, "session_id": "chat-1"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "SUCCESS" and response.json()["eval_run_id"] is None
    assert not TraceScore.objects.exists()
    assert not SessionScore.objects.exclude(status="SUCCESS").exists()
    assert not SessionScore.objects.filter(eval_run_id__isnull=False).exists()
