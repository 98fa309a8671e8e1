"""Start-up configuration: no environment gives a working development setup; a malformed value
stops start-up with a message that names the variable."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHOW = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], 'broker': s.DRAMATIQ_BROKER['BROKER'], "
    "'debug': s.DEBUG, 'name': str(s.DATABASES['default']['NAME'])}))"
)


def start(tmp_path, **env: str) -> subprocess.CompletedProcess:
    """`django.setup()` in a fresh interpreter with only these variables (no inherited ones)."""
    base = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "pandaprobe.settings",
    }
    return subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_no_environment_at_all_starts_on_sqlite_with_the_in_process_broker(tmp_path):
    result = start(tmp_path)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["engine"] == "django.db.backends.sqlite3"
    assert shown["broker"] == "dramatiq.brokers.stub.StubBroker"
    assert shown["debug"] is True and shown["name"] == str(REPO / "db.sqlite3")


def test_production_like_environment_is_honoured(tmp_path):
    result = start(
        tmp_path,
        DEBUG="false",
        SECRET_KEY="s3cret",
        DATABASE_URL="postgres://u:p@db.internal:5432/pandaprobe",
        REDIS_URL="redis://cache:6379/0",
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["engine"] == "django.db.backends.postgresql" and shown["name"] == "pandaprobe"
    assert shown["broker"] == "dramatiq.brokers.redis.RedisBroker" and shown["debug"] is False


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"DATABASE_URL": "nonsense://x"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://u@h:port/db"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"MAX_REQUEST_BODY_BYTES": "abc"}, "MAX_REQUEST_BODY_BYTES"),
        ({"MAX_REQUEST_BODY_BYTES": "12"}, "MAX_REQUEST_BODY_BYTES"),
        ({"INPROCESS_WORKER_THREADS": "0"}, "INPROCESS_WORKER_THREADS"),
        ({"DEBUG": "false"}, "SECRET_KEY"),
        ({"DATABASE_URL": "postgres://h/db", "DB_CONN_MAX_AGE": "soon"}, "DB_CONN_MAX_AGE"),
    ],
)
def test_a_malformed_value_stops_start_up_naming_the_variable(tmp_path, env, variable):
    result = start(tmp_path, **env)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured")
    assert variable in last_line
