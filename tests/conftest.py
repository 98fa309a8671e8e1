"""Shared fixtures: an owner project with its key, an outsider project, users, API clients."""

import dramatiq
import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.test import APIClient

from pandaprobe.projects import selectors as project_selectors
from pandaprobe.projects import services as project_services
from pandaprobe.projects.models import Membership

from .factories import MembershipFactory, ProjectFactory


def pytest_configure(config):
    config.option.nomigrations = True  # tables from models; `test_migrations` checks they are in sync


@pytest.fixture(autouse=True)
def _no_api_key_cache(monkeypatch):
    # Every request looks its key up, so query counts and credential changes are deterministic;
    # tests/projects/test_api_key_cache.py turns the cache back on to test it.
    monkeypatch.setattr(project_selectors, "API_KEY_CACHE_SECONDS", 0.0)


@pytest.fixture(autouse=True)
def _no_throttle_counts():
    """Each test starts with no login or failed-credential counts (django-ratelimit's cache)."""
    backend = caches["default"]  # the backend itself: `django.core.cache.cache` is a proxy
    if isinstance(backend, RedisCache):
        # Only this test process's keys: the Redis database also holds other processes' queues and
        # counts, which FLUSHDB (what `clear()` does there) would wipe.
        client = backend._cache.get_client(write=True)
        for key in client.scan_iter(match=f"{backend.key_prefix}:*"):
            client.delete(key)
    else:
        backend.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness dominates a suite that signs users in hundreds of times.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class ProjectClient(APIClient):
    """An API client that knows its project, its raw key, and sends both on every request."""

    def __init__(self, project, raw_key: str, **kwargs):
        super().__init__(**kwargs)
        self.project = project
        self.raw_key = raw_key
        self.credentials(HTTP_X_API_KEY=raw_key, HTTP_X_PROJECT_NAME=project.name)


@pytest.fixture
def project(db):
    return ProjectFactory(name="acme")


@pytest.fixture
def other_project(db):
    return ProjectFactory(name="globex")


@pytest.fixture
def make_client(db):
    def make(project) -> ProjectClient:
        issued = project_services.api_key_create(project=project, name="tests")
        return ProjectClient(project, issued.raw_key)

    return make


@pytest.fixture
def api(project, make_client) -> ProjectClient:
    """A client with an API key of `project`."""
    return make_client(project)


@pytest.fixture
def other_api(other_project, make_client) -> ProjectClient:
    """A client with an API key of `other_project` (the outsider)."""
    return make_client(other_project)


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


@pytest.fixture
def admin_user(project):
    return MembershipFactory(project=project, role=Membership.Role.ADMIN, user__username="owner").user


@pytest.fixture
def reviewer(project):
    return MembershipFactory(project=project, role=Membership.Role.REVIEWER, user__username="reviewer").user


@pytest.fixture
def outsider(other_project):
    return MembershipFactory(
        project=other_project, role=Membership.Role.ADMIN, user__username="outsider"
    ).user


@pytest.fixture
def bearer_client(db):
    """`bearer_client(user, project)`: an API client with the user's access token and X-Project-ID."""

    def make(user, project) -> APIClient:
        issued = project_services.access_token_create(user=user, name="tests")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_token}", HTTP_X_PROJECT_ID=str(project.pk))
        return client

    return make


@pytest.fixture
def broker():
    """The configured Dramatiq broker, emptied (in-memory, or Redis when REDIS_URL is set)."""
    broker = dramatiq.get_broker()
    broker.flush_all()
    return broker


@pytest.fixture
def worker(broker, transactional_db, settings):
    """A real Dramatiq worker on the configured broker; `broker.join(queue)` waits for its work.
    The run reaper stays off: tests that need it turn it on."""
    settings.PANDAPROBE_REAPER_SECONDS = 0
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def _judge_server():
    from .judge_stub import StubJudge

    stub = StubJudge().start()
    yield stub
    stub.stop()


@pytest.fixture
def judge_stub(_judge_server, settings):
    """The OpenAI-compatible stub judge on 127.0.0.1, emptied, with the settings pointing at it."""
    _judge_server.reset()
    settings.PANDAPROBE_JUDGE_MODEL = "stub-judge"
    settings.PANDAPROBE_JUDGE_EMBEDDING_MODEL = "stub-embedding"
    settings.PANDAPROBE_JUDGE_API_BASE = _judge_server.url
    settings.PANDAPROBE_JUDGE_API_KEY = "stub-key"
    settings.PANDAPROBE_JUDGE_TIMEOUT = 2
    settings.PANDAPROBE_JUDGE_MAX_RETRIES = 2
    return _judge_server
