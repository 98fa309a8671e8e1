"""The per-process API-key cache: a hit costs no query; revoking through the service, or editing
the key in the admin, applies to the very next request; anything else applies when the entry expires."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pandaprobe.projects import selectors, services
from pandaprobe.projects.models import ApiKey

from ..factories import UserFactory


@pytest.fixture
def cache(monkeypatch):
    monkeypatch.setattr(selectors, "API_KEY_CACHE_SECONDS", 60.0)
    selectors._api_keys.clear()
    yield
    selectors._api_keys.clear()


def _key_lookups(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/traces").status_code == 200
    return sum('FROM "projects_apikey"' in q["sql"] for q in queries.captured_queries)


def test_a_cached_key_costs_no_query(cache, api):
    assert _key_lookups(api) == 1
    assert _key_lookups(api) == 0


def test_revoking_through_the_service_applies_to_the_next_request(cache, api):
    assert _key_lookups(api) == 1
    services.api_key_revoke(api_key=ApiKey.objects.get(project=api.project))
    response = api.get("/traces")
    assert response.status_code == 401 and response.json()["detail"] == "API key has been revoked"


def test_an_expired_entry_is_read_again(cache, api, monkeypatch):
    assert _key_lookups(api) == 1
    ApiKey.objects.filter(project=api.project).update(is_active=False)  # behind the cache's back
    assert api.get("/traces").status_code == 200  # still cached: the documented delay
    monkeypatch.setattr(selectors, "API_KEY_CACHE_SECONDS", 0.0)
    selectors._api_keys.clear()  # what expiry does
    assert api.get("/traces").status_code == 401


def test_editing_the_key_in_the_admin_applies_at_once(cache, api, client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    key = ApiKey.objects.get(project=api.project)
    assert _key_lookups(api) == 1
    form = {"project": str(key.project_id), "name": key.name, "is_active": "", "expires_at": ""}
    response = client.post(f"/admin/projects/apikey/{key.pk}/change/", form)
    assert response.status_code == 302 and response.url.endswith("/admin/projects/apikey/")
    assert api.get("/traces").status_code == 401


def test_recording_use_marks_the_cached_key(cache, api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as sent:
        api.get("/traces")
        api.get("/traces")
    assert len(sent) == 1  # the second request saw the cached key already marked as used
