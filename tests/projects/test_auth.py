"""Who gets in: API keys with X-Project-Name, Bearer tokens with X-Project-ID, browser sessions."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.exceptions import PermissionDenied
from rest_framework.test import APIClient

from pandaprobe.projects import services
from pandaprobe.projects.access import Action, Actor, ProjectAccess
from pandaprobe.projects.authentication import SESSION_PROJECT_KEY, user_project_access
from pandaprobe.projects.models import ApiKey, Membership
from pandaprobe.traces.models import Trace

from ..factories import MembershipFactory, TraceFactory, UserFactory

T0 = "2026-01-01T00:00:00Z"


def key_client(raw_key: str, project_name: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw_key, HTTP_X_PROJECT_NAME=project_name)
    return client


def _detail(response) -> str:
    return response.json()["detail"]


def test_a_valid_key_with_its_project_name_gets_in(api):
    assert api.get("/traces").status_code == 200


@pytest.mark.parametrize("method, path", [("get", "/traces"), ("post", "/traces"), ("get", "/sessions")])
def test_no_credentials_is_401(anon, method, path):
    response = getattr(anon, method)(path, {}, format="json")
    assert response.status_code == 401
    assert "X-API-Key" in _detail(response)
    assert response.has_header("WWW-Authenticate")


@pytest.mark.parametrize(
    "raw_key, detail",
    [
        ("sk_pp_" + "0" * 64, "Invalid API key"),
        ("not-a-key", "Invalid API key"),
        ("", "Invalid API key"),
    ],
)
def test_an_unknown_key_is_401(project, raw_key, detail):
    response = key_client(raw_key, project.name).get("/traces")
    assert response.status_code == 401 and _detail(response) == detail


def test_a_key_without_project_name_is_401(api):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api.raw_key)
    response = client.get("/traces")
    assert response.status_code == 401 and "X-Project-Name" in _detail(response)


def test_a_revoked_key_is_401(api):
    services.api_key_revoke(api_key=ApiKey.objects.get(project=api.project))
    response = api.get("/traces")
    assert response.status_code == 401 and _detail(response) == "API key has been revoked"


def test_an_expired_key_is_401_and_one_not_yet_expired_works(project):
    expired = services.api_key_create(project=project, expires_at=timezone.now() - timedelta(seconds=1))
    live = services.api_key_create(project=project, expires_at=timezone.now() + timedelta(hours=1))
    response = key_client(expired.raw_key, project.name).get("/traces")
    assert response.status_code == 401 and _detail(response) == "API key has expired"
    assert key_client(live.raw_key, project.name).get("/traces").status_code == 200


def test_a_key_of_project_a_with_the_name_of_project_b_is_403(api, other_project):
    TraceFactory(project=other_project)
    response = key_client(api.raw_key, other_project.name).get("/traces")
    assert response.status_code == 403
    assert _detail(response) == "API key does not belong to the project named in X-Project-Name"


def test_a_key_with_an_unknown_project_name_is_403(api):
    response = key_client(api.raw_key, "no-such-project").post(
        "/traces", {"name": "t", "started_at": T0}, format="json"
    )
    assert response.status_code == 403 and Trace.objects.count() == 0


# Bearer tokens ------------------------------------------------------------------------------


def test_bearer_token_of_a_member_gets_in(bearer_client, reviewer, project):
    TraceFactory(project=project)
    response = bearer_client(reviewer, project).get("/traces")
    assert response.status_code == 200 and response.json()["total"] == 1


def test_bearer_token_for_a_project_the_user_is_not_in_is_403(bearer_client, reviewer, other_project):
    response = bearer_client(reviewer, other_project).get("/traces")
    assert response.status_code == 403 and _detail(response) == "You are not a member of this project"


@pytest.mark.parametrize("project_id", ["not-a-uuid", "", "6f1c1d7e-0000-4000-8000-000000000002"])
def test_bearer_token_with_a_bad_project_id(bearer_client, reviewer, project, project_id):
    client = bearer_client(reviewer, project)
    client.credentials(
        HTTP_AUTHORIZATION=client._credentials["HTTP_AUTHORIZATION"], HTTP_X_PROJECT_ID=project_id
    )
    response = client.get("/traces")
    assert response.status_code in (401, 403)
    expected = {
        "not-a-uuid": "X-Project-ID must be a project UUID",
        "": "X-Project-ID header is required",
    }.get(project_id, "You are not a member of this project")
    assert _detail(response) == expected


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer ", "Bearer pat_pp_" + "0" * 64])
def test_an_unknown_bearer_token_is_401(project, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header, HTTP_X_PROJECT_ID=str(project.pk))
    response = client.get("/traces")
    assert response.status_code == 401 and _detail(response) == "Invalid or revoked access token"


def test_a_revoked_or_expired_token_or_inactive_user_is_401(reviewer, project):
    revoked = services.access_token_create(user=reviewer)
    revoked.token.is_active = False
    revoked.token.save()
    expired = services.access_token_create(user=reviewer, expires_at=timezone.now() - timedelta(seconds=1))
    for raw in (revoked.raw_token, expired.raw_token):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_X_PROJECT_ID=str(project.pk))
        assert client.get("/traces").status_code == 401
    live = services.access_token_create(user=reviewer)
    reviewer.is_active = False
    reviewer.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {live.raw_token}", HTTP_X_PROJECT_ID=str(project.pk))
    assert client.get("/traces").status_code == 401


def test_a_superuser_is_admin_in_every_project(bearer_client, other_project):
    root = UserFactory(is_superuser=True, is_staff=True)
    assert bearer_client(root, other_project).get("/traces").status_code == 200


def test_bearer_sees_only_the_chosen_project(bearer_client, project, other_project):
    user = MembershipFactory(project=project, role=Membership.Role.REVIEWER).user
    MembershipFactory(user=user, project=other_project)
    TraceFactory(project=project, name="acme-trace")
    TraceFactory(project=other_project, name="globex-trace")
    items = bearer_client(user, other_project).get("/traces").json()["items"]
    assert [t["name"] for t in items] == ["globex-trace"]


# Browser sessions ---------------------------------------------------------------------------


@pytest.fixture
def browser(db):
    """Django's test client (session cookies) with CSRF checks on, like a real browser."""
    return Client(enforce_csrf_checks=True)


def _login(browser, user) -> None:
    assert browser.login(username=user.username, password="pw-correct-horse")


def test_a_signed_in_member_reads_with_x_project_id(browser, reviewer, project):
    TraceFactory(project=project)
    _login(browser, reviewer)
    response = browser.get("/traces", HTTP_X_PROJECT_ID=str(project.pk))
    assert response.status_code == 200 and response.json()["total"] == 1


def test_a_signed_in_member_uses_the_sessions_current_project(browser, reviewer, project):
    _login(browser, reviewer)
    session = browser.session
    session[SESSION_PROJECT_KEY] = str(project.pk)
    session.save()
    assert browser.get("/traces").status_code == 200


def test_a_member_who_never_switched_works_in_their_first_project(browser, reviewer, project):
    TraceFactory(project=project)
    _login(browser, reviewer)
    response = browser.get("/traces")
    assert response.status_code == 200 and response.json()["total"] == 1


def test_a_signed_in_user_without_any_project_is_401(browser, db):
    loner = UserFactory(username="loner")
    _login(browser, loner)
    response = browser.get("/traces")
    assert response.status_code == 401 and _detail(response) == "X-Project-ID header is required"


def test_a_signed_in_non_member_is_403(browser, outsider, project):
    _login(browser, outsider)
    response = browser.get("/traces", HTTP_X_PROJECT_ID=str(project.pk))
    assert response.status_code == 403


def test_session_writes_need_the_csrf_token(browser, admin_user, project):
    _login(browser, admin_user)
    body = '{"name": "t", "started_at": "2026-01-01T00:00:00Z"}'
    headers = {"content_type": "application/json", "HTTP_X_PROJECT_ID": str(project.pk)}
    refused = browser.post("/traces", body, **headers)
    assert refused.status_code == 403 and "CSRF" in _detail(refused)
    assert Trace.objects.count() == 0

    browser.get("/admin/login/")  # any page that renders a form sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    accepted = browser.post("/traces", body, HTTP_X_CSRFTOKEN=token, **headers)
    assert accepted.status_code == 202 and Trace.objects.count() == 1


def test_api_keys_need_no_csrf_token(project, make_client):
    client = make_client(project)
    client.enforce_csrf_checks = True
    response = client.post("/traces", {"name": "t", "started_at": T0}, format="json")
    assert response.status_code == 202


# Roles ------------------------------------------------------------------------------------------


def test_roles_come_from_the_membership(admin_user, reviewer, project, other_project):
    assert user_project_access(admin_user, project.pk).role == Membership.Role.ADMIN
    assert user_project_access(reviewer, project.pk).role == Membership.Role.REVIEWER
    services.membership_set(user=reviewer, project=project, role=Membership.Role.ADMIN)
    assert user_project_access(reviewer, project.pk).role == Membership.Role.ADMIN
    with pytest.raises(PermissionDenied):
        user_project_access(reviewer, other_project.pk)


def test_the_actor_follows_the_credential_and_the_role(admin_user, reviewer, project):
    key = services.api_key_create(project=project).api_key
    assert user_project_access(admin_user, project.pk).actor == Actor.ADMIN
    assert user_project_access(reviewer, project.pk).actor == Actor.REVIEWER
    assert ProjectAccess(project=project, api_key=key).actor == Actor.API_KEY
    assert ProjectAccess.system(project).actor == Actor.SYSTEM
    assert ProjectAccess.system(project).can(Action.SCORE_AUTOMATED)
    assert not user_project_access(admin_user, project.pk).can(Action.SCORE_AUTOMATED)
    assert not user_project_access(reviewer, project.pk).can(Action.CONFIG_MANAGE)
