"""Keys and tokens in the admin: a new raw secret appears once, in the page that answers the form, and
never in a cookie or the session; once issued a credential keeps its owner, once revoked it stays
revoked."""

import re

import pytest
from django.contrib.sessions.models import Session
from rest_framework.test import APIClient

from pandaprobe.errors import RuleViolation
from pandaprobe.projects import services
from pandaprobe.projects.models import ApiKey, PersonalAccessToken

from ..factories import UserFactory

RAW_KEY = re.compile(r"sk_pp_[0-9a-f]{64}")


@pytest.fixture
def superuser_client(client, db):
    client.force_login(UserFactory(is_staff=True, is_superuser=True, username="root"))
    return client


def works(raw_key: str, project_name: str) -> bool:
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=raw_key, HTTP_X_PROJECT_NAME=project_name)
    return api.get("/traces").status_code == 200


def change(client, key: ApiKey, **form) -> int:
    data = {"name": key.name, "expires_at": "", **form}
    return client.post(f"/admin/projects/apikey/{key.pk}/change/", data).status_code


def test_a_new_key_is_in_the_creation_page_once_and_in_no_cookie_or_session(superuser_client, project):
    response = superuser_client.post(
        "/admin/projects/apikey/add/", {"project": str(project.pk), "name": "ci", "is_active": "on"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    [raw_key] = RAW_KEY.findall(html)
    assert html.count(raw_key) == 1
    assert "no-store" in response["Cache-Control"]
    assert works(raw_key, project.name)
    # Nothing carries it on: no cookie set by this response, nothing queued in the session.
    assert all(raw_key not in morsel.value for morsel in response.cookies.values())
    assert all(raw_key not in str(session.get_decoded()) for session in Session.objects.all())
    for page in ["/admin/projects/apikey/", f"/admin/projects/apikey/{ApiKey.objects.get(name='ci').pk}/change/"]:
        later = superuser_client.get(page)
        assert raw_key not in later.content.decode()
        assert all(raw_key not in morsel.value for morsel in later.cookies.values())


def test_a_key_created_inactive_is_revoked_and_still_shown_once(superuser_client, project):
    response = superuser_client.post("/admin/projects/apikey/add/", {"project": str(project.pk), "name": "off"})
    [raw_key] = RAW_KEY.findall(response.content.decode())
    assert ApiKey.objects.get(name="off").is_active is False
    assert not works(raw_key, project.name)


def test_a_token_created_inactive_is_revoked(superuser_client, reviewer):
    response = superuser_client.post("/admin/projects/personalaccesstoken/add/", {"user": str(reviewer.pk)})
    assert response.status_code == 200 and "pat_pp_" in response.content.decode()
    assert PersonalAccessToken.objects.get(user=reviewer).is_active is False


def test_a_revoked_key_cannot_be_reactivated_or_moved_through_the_admin(
    superuser_client, project, other_project
):
    issued = services.api_key_create(project=project, name="leaked")
    services.api_key_revoke(api_key=issued.api_key)
    page = superuser_client.get(f"/admin/projects/apikey/{issued.api_key.pk}/change/").content.decode()
    assert 'name="is_active"' not in page and 'name="project"' not in page  # read-only, not inputs

    status = change(superuser_client, issued.api_key, is_active="on", project=str(other_project.pk), name="x")
    assert status == 302  # the crafted fields are ignored; the name, which may change, did
    key = ApiKey.objects.get(pk=issued.api_key.pk)
    assert (key.is_active, key.project_id, key.name) == (False, project.pk, "x")
    assert not works(issued.raw_key, project.name) and not works(issued.raw_key, other_project.name)


def test_an_active_key_can_be_revoked_but_not_moved(superuser_client, project, other_project):
    issued = services.api_key_create(project=project, name="ci")
    page = superuser_client.get(f"/admin/projects/apikey/{issued.api_key.pk}/change/").content.decode()
    assert 'name="is_active"' in page and 'name="project"' not in page
    assert change(superuser_client, issued.api_key, project=str(other_project.pk)) == 302  # unticked
    key = ApiKey.objects.get(pk=issued.api_key.pk)
    assert (key.is_active, key.project_id) == (False, project.pk)
    assert not works(issued.raw_key, project.name)


def test_a_revoked_token_cannot_be_reactivated_or_given_to_another_user(superuser_client, reviewer, admin_user):
    issued = services.access_token_create(user=reviewer, name="cli")
    token = issued.token
    services.credential_update(credential=token, name="cli", expires_at=None, is_active=False)
    url = f"/admin/projects/personalaccesstoken/{token.pk}/change/"
    response = superuser_client.post(url, {"name": "cli", "is_active": "on", "user": str(admin_user.pk)})
    assert response.status_code == 302
    token.refresh_from_db()
    assert (token.is_active, token.user_id) == (False, reviewer.pk)


def test_the_service_refuses_to_reactivate_a_revoked_key(project):
    issued = services.api_key_create(project=project, name="ci")
    services.api_key_revoke(api_key=issued.api_key)
    stale = ApiKey.objects.get(pk=issued.api_key.pk)
    stale.is_active = True  # e.g. a form loaded before the key was revoked
    with pytest.raises(RuleViolation, match="cannot be re-activated"):
        services.credential_update(credential=stale, name="ci", expires_at=None, is_active=True)
    assert ApiKey.objects.get(pk=stale.pk).is_active is False
    # Still allowed: renaming it and keeping it revoked.
    services.credential_update(credential=stale, name="old", expires_at=None, is_active=False)
    assert ApiKey.objects.values_list("name", "is_active").get(pk=stale.pk) == ("old", False)
