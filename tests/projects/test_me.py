"""`GET /me`: the profile of a Bearer token's user; an API key has none."""

from datetime import UTC, datetime

from rest_framework.test import APIClient

from pandaprobe.projects import services


def bearer(user) -> APIClient:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {services.access_token_create(user=user, name='t').raw_token}"
    )
    return client


def test_a_bearer_tokens_user_gets_their_profile_without_a_project(admin_user):
    admin_user.first_name, admin_user.last_name, admin_user.email = "Ada", "Lovelace", "ada@example.com"
    admin_user.date_joined = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    admin_user.save()
    response = bearer(admin_user).get("/me")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": str(admin_user.pk),
        "email": "ada@example.com",
        "display_name": "Ada Lovelace",
        "created_at": "2026-01-02T03:04:05Z",
        "last_sign_in_at": None,
    }


def test_a_user_without_a_name_is_shown_by_username(reviewer, bearer_client, project):
    # With X-Project-ID too (the header other routes need) the answer is the same user.
    response = bearer_client(reviewer, project).get("/me")
    assert response.status_code == 200
    assert response.json()["display_name"] == "reviewer"


def test_an_api_key_is_told_it_is_not_a_user(api, admin_user):
    response = api.get("/me")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert "API key belongs to a project, not a user" in response.json()["detail"]
    assert bearer(admin_user).get("/me").status_code == 200  # control


def test_no_invalid_or_revoked_token_gets_a_profile(anon, admin_user):
    assert anon.get("/me").status_code == 401
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer pat_pp_" + "0" * 64)
    assert client.get("/me").status_code == 401
    issued = services.access_token_create(user=admin_user, name="t")
    issued.token.is_active = False
    issued.token.save()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_token}")
    assert client.get("/me").status_code == 401
