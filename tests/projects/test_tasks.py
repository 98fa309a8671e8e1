"""Recording credential use: sent only after commit, processed by a real Dramatiq worker, at most
once a minute per credential."""

from datetime import timedelta

import pytest
from django.db import transaction
from dramatiq.brokers.stub import StubBroker
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from pandaprobe.projects import services
from pandaprobe.projects.authentication import ApiKeyAuthentication
from pandaprobe.projects.models import ApiKey, PersonalAccessToken


def pending(broker, queue: str = "default") -> int:
    """Messages waiting on the configured broker (in-memory or Redis)."""
    if isinstance(broker, StubBroker):
        return broker.queues[queue].qsize() if queue in broker.queues else 0
    return broker.do_qsize(queue)


def settle(broker, worker) -> None:
    broker.join("default", timeout=10_000)
    worker.join()


def last_used(model, pk):
    return model.objects.get(pk=pk).last_used_at


def test_a_real_worker_records_key_use_at_most_once_a_minute(worker, broker, api):
    key = ApiKey.objects.get(project=api.project)
    assert key.last_used_at is None

    assert api.get("/traces").status_code == 200
    settle(broker, worker)
    first = last_used(ApiKey, key.pk)
    assert first is not None

    # Within the minute no message goes out, so nothing moves (a processed one would move it on).
    for _ in range(3):
        assert api.get("/traces").status_code == 200
    settle(broker, worker)
    assert last_used(ApiKey, key.pk) == first

    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(minutes=2))
    assert api.get("/traces").status_code == 200
    settle(broker, worker)
    assert last_used(ApiKey, key.pk) > first


def test_a_real_worker_records_access_token_use(worker, broker, bearer_client, reviewer, project):
    client = bearer_client(reviewer, project)
    token = PersonalAccessToken.objects.get(user=reviewer)
    assert client.get("/traces").status_code == 200
    settle(broker, worker)
    assert last_used(PersonalAccessToken, token.pk) is not None


def test_a_late_or_redelivered_message_never_moves_last_used_back(project):
    issued = services.api_key_create(project=project)
    key_id = str(issued.api_key.pk)
    now = issued.api_key.created_at
    services.api_key_mark_used(api_key_id=key_id, used_at=now)
    services.api_key_mark_used(api_key_id=key_id, used_at=now - timedelta(minutes=5))
    services.api_key_mark_used(api_key_id=key_id, used_at=now)
    assert last_used(ApiKey, key_id) == now


def _authenticate(api) -> None:
    factory = APIRequestFactory()
    request = factory.get("/traces", HTTP_X_API_KEY=api.raw_key, HTTP_X_PROJECT_NAME=api.project.name)
    ApiKeyAuthentication().authenticate(Request(request))


def test_the_message_waits_for_the_commit(api, broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _authenticate(api)
        assert pending(broker) == 0  # registered, not sent
    assert len(callbacks) == 1
    callbacks[0]()
    assert pending(broker) == 1
    broker.flush_all()


def test_nothing_is_sent_when_the_transaction_rolls_back(api, broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            _authenticate(api)
            raise RuntimeError("the request failed after authentication")
    assert callbacks == []
    assert pending(broker) == 0
    assert last_used(ApiKey, ApiKey.objects.get(project=api.project).pk) is None
