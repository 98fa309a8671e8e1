"""Throttles on the ways in (django-ratelimit): sign-in per address and per username on the pages and
the admin; failed API keys and Bearer tokens per address.

Rates are per hour here so no window ends in the middle of a test (django-ratelimit's windows end
at a fixed second of each period)."""

import pytest
from django.test import Client

from pandaprobe.projects import services
from pandaprobe.projects.models import ApiKey

from ..factories import UserFactory

PASSWORD = "pw-correct-horse"
LOGIN_URLS = ["/app/login/", "/admin/login/"]


@pytest.fixture(autouse=True)
def rates(settings):
    settings.RATELIMIT_LOGIN_PER_IP = "4/h"
    settings.RATELIMIT_LOGIN_PER_USERNAME = "2/h"
    settings.RATELIMIT_API_AUTH_FAILURES = "3/h"


def sign_in(client, url: str, username: str, password: str = "wrong", ip: str = "10.0.0.1", **extra):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip, **extra)


def assert_throttled_page(response) -> None:
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 3600
    assert "Too many sign-in attempts" in response.content.decode()
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("url", LOGIN_URLS)
def test_sign_in_is_throttled_per_address(client, url, db):
    for n in range(4):
        assert sign_in(client, url, f"guess{n}").status_code == 200  # the form again, with its error
    assert_throttled_page(sign_in(client, url, "guess-5"))
    # Another address is not affected, and looking at the form never counts.
    assert sign_in(client, url, "guess-6", ip="10.0.0.2").status_code == 200
    assert client.get(url, REMOTE_ADDR="10.0.0.1").status_code == 200


@pytest.mark.parametrize("url", LOGIN_URLS)
def test_sign_in_is_throttled_per_username_across_addresses(client, url, db):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    assert sign_in(client, url, "root", ip="10.0.0.1").status_code == 200
    assert sign_in(client, url, " ROOT", ip="10.0.0.2").status_code == 200  # same name, other spelling
    # The right password from a third address is refused too, and does not sign in.
    assert_throttled_page(sign_in(client, url, "root", password=PASSWORD, ip="10.0.0.3"))
    assert "_auth_user_id" not in client.session
    # Another username from that address still works.
    UserFactory(username="someone", is_staff=True)
    assert sign_in(Client(), url, "someone", password=PASSWORD, ip="10.0.0.3").status_code == 302


def test_the_two_sign_in_forms_share_the_counts(client, db):
    assert sign_in(client, "/app/login/", "root").status_code == 200
    assert sign_in(client, "/admin/login/", "root").status_code == 200
    assert_throttled_page(sign_in(client, "/app/login/", "root"))


def test_a_normal_sign_in_is_not_throttled(client, reviewer):
    response = sign_in(client, "/app/login/", "reviewer", password=PASSWORD)
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(reviewer.pk)


# The API ---------------------------------------------------------------------------------------------


def get_traces(client, ip: str = "10.0.0.1", **headers):
    return client.get("/traces", REMOTE_ADDR=ip, **headers)


def bad_key(project_name: str = "acme") -> dict:
    return {"HTTP_X_API_KEY": "sk_pp_" + "0" * 64, "HTTP_X_PROJECT_NAME": project_name}


def test_repeated_bad_api_keys_from_one_address_are_throttled(anon, api, project):
    for _ in range(3):
        assert get_traces(anon, **bad_key()).status_code == 401
    refused = get_traces(anon, **bad_key())
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 3600
    assert refused.json()["detail"].startswith("Too many failed authentications from this address")
    # While blocked, even a valid key from that address is refused (a guess cannot be confirmed)...
    assert get_traces(api).status_code == 429
    # ... and the key keeps working from everywhere else.
    assert get_traces(api, ip="10.0.0.2").status_code == 200


def test_bad_bearer_tokens_count_with_bad_keys(anon, bearer_client, admin_user, project, api):
    get_traces(anon, **bad_key())
    for _ in range(2):
        assert get_traces(anon, HTTP_AUTHORIZATION="Bearer pat_pp_nope").status_code == 401
    assert get_traces(anon, HTTP_AUTHORIZATION="Bearer pat_pp_nope").status_code == 429
    assert get_traces(bearer_client(admin_user, project)).status_code == 429
    assert get_traces(api).status_code == 429


def test_revoked_and_expired_keys_are_failures(anon, project):
    revoked = services.api_key_create(project=project)
    services.api_key_revoke(api_key=revoked.api_key)
    expired = services.api_key_create(project=project)
    ApiKey.objects.filter(pk=expired.api_key.pk).update(expires_at="2020-01-01T00:00:00Z")
    for raw in [revoked.raw_key, expired.raw_key, revoked.raw_key]:
        assert get_traces(anon, HTTP_X_API_KEY=raw, HTTP_X_PROJECT_NAME="acme").status_code == 401
    assert get_traces(anon, HTTP_X_API_KEY=revoked.raw_key, HTTP_X_PROJECT_NAME="acme").status_code == 429


def test_successes_and_requests_without_credentials_never_count(anon, api, other_project):
    for _ in range(10):
        assert get_traces(api).status_code == 200
        # A valid key naming the wrong project is a 403, not a guessed key.
        wrong_project = {"HTTP_X_API_KEY": api.raw_key, "HTTP_X_PROJECT_NAME": other_project.name}
        assert get_traces(anon, **wrong_project).status_code == 403
        assert get_traces(anon).status_code == 401
    assert get_traces(api).status_code == 200


def test_a_throttled_address_can_still_use_the_pages(client, anon, reviewer, project):
    for _ in range(4):
        get_traces(anon, **bad_key())
    assert sign_in(client, "/app/login/", "reviewer", password=PASSWORD).status_code == 302
    assert client.get(f"/app/p/{project.pk}/traces/", REMOTE_ADDR="10.0.0.1").status_code == 200


# The client address -------------------------------------------------------------------------------


def block(client, **meta) -> None:
    for _ in range(4):
        get_traces(client, **bad_key(), **meta)


def test_x_forwarded_for_is_not_trusted_by_default(anon, api):
    block(anon, HTTP_X_FORWARDED_FOR="203.0.113.9")
    # Changing the header does not make a new client: REMOTE_ADDR is the address.
    assert get_traces(api, HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 429


def test_behind_a_proxy_the_configured_header_is_the_address(settings, anon, api):
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    # The proxy (one address for every client) appends the address it saw: the last entry counts.
    block(anon, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9")
    assert get_traces(api, HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 429
    assert get_traces(api, HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7").status_code == 200
    # A request that did not come through the proxy (no or a garbled header) falls back to REMOTE_ADDR.
    assert get_traces(api, HTTP_X_FORWARDED_FOR="not-an-address").status_code == 200


def test_ipv6_clients_are_counted_per_64_network(anon, api):
    block(anon, ip="2001:db8:1:2::10")
    assert get_traces(api, ip="2001:db8:1:2::99").status_code == 429
    assert get_traces(api, ip="2001:db8:1:3::10").status_code == 200
