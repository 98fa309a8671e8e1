"""Start-up configuration: no environment gives a working development setup; a malformed value
stops start-up with a message that names the variable."""

import json
import os
import re
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


SHOW_SECURITY = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({name: getattr(s, name) for name in ["
    "'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', "
    "'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_HSTS_PRELOAD', 'SECURE_PROXY_SSL_HEADER', 'CLIENT_IP_HEADER', "
    "'RATELIMIT_LOGIN_PER_IP', 'RATELIMIT_LOGIN_PER_USERNAME', 'RATELIMIT_API_AUTH_FAILURES', "
    "'X_FRAME_OPTIONS', 'MIDDLEWARE', 'CONTENT_SECURITY_POLICY']} | {'cache': s.CACHES['default']}))"
)
# A production environment: PostgreSQL, Redis, a long random key, HTTPS behind a proxy.
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k3y-" + "x9Qz_7mP" * 8,
    "DATABASE_URL": "postgres://u:p@db.internal:5432/pandaprobe",
    "REDIS_URL": "redis://cache:6379/0",
    "ALLOWED_HOSTS": "eval.example.com",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto,https",
}


def start(tmp_path, code: str = SHOW, **env: str) -> subprocess.CompletedProcess:
    """`django.setup()` in a fresh interpreter with only these variables (no inherited ones)."""
    base = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "pandaprobe.settings",
    }
    return subprocess.run(
        [sys.executable, "-c", code],
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


SHOW_DATABASE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "d = s.DATABASES['default']; print(json.dumps({'pool': d.get('OPTIONS', {}).get('pool'), "
    "'max_age': d.get('CONN_MAX_AGE')}))"
)


def test_postgresql_goes_through_a_pool_per_process_unless_told_otherwise(tmp_path):
    pooled = start(tmp_path, SHOW_DATABASE, DATABASE_URL="postgres://h/db", DB_POOL_MAX_SIZE="24")
    assert pooled.returncode == 0, pooled.stderr
    shown = json.loads(pooled.stdout)
    assert shown["pool"]["max_size"] == 24 and not shown["max_age"]  # Django refuses both at once
    persistent = start(tmp_path, SHOW_DATABASE, DATABASE_URL="postgres://h/db", DB_POOL_MAX_SIZE="0")
    assert json.loads(persistent.stdout) == {"pool": None, "max_age": 60}


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
        ({"DEBUG": "false", "SECRET_KEY": "s3cret"}, "REDIS_URL"),
        ({"RATELIMIT_LOGIN_PER_IP": "lots"}, "RATELIMIT_LOGIN_PER_IP"),
        ({"RATELIMIT_LOGIN_PER_USERNAME": "0/m"}, "RATELIMIT_LOGIN_PER_USERNAME"),
        ({"RATELIMIT_API_AUTH_FAILURES": "20/minute"}, "RATELIMIT_API_AUTH_FAILURES"),
        ({"CLIENT_IP_HEADER": "X Real IP"}, "CLIENT_IP_HEADER"),
        ({"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"}, "SECURE_PROXY_SSL_HEADER"),
        ({"SECURE_HSTS_SECONDS": "a year"}, "SECURE_HSTS_SECONDS"),
        ({"SECURE_HSTS_PRELOAD": "sure"}, "SECURE_HSTS_PRELOAD"),
        ({"DATABASE_URL": "postgres://h/db", "DB_POOL_MAX_SIZE": "many"}, "DB_POOL_MAX_SIZE"),
        ({"DATABASE_URL": "postgres://h/db", "DB_POOL_MAX_SIZE": "0", "DB_CONN_MAX_AGE": "soon"}, "DB_CONN_MAX_AGE"),
    ],
)
def test_a_malformed_value_stops_start_up_naming_the_variable(tmp_path, env, variable):
    result = start(tmp_path, **env)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured")
    assert variable in last_line


def test_without_debug_it_is_https_only_with_a_shared_cache(tmp_path):
    result = start(tmp_path, SHOW_SECURITY, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["SESSION_COOKIE_SECURE"] is shown["CSRF_COOKIE_SECURE"] is shown["SECURE_SSL_REDIRECT"] is True
    assert shown["SECURE_HSTS_SECONDS"] == 31_536_000
    assert shown["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is shown["SECURE_HSTS_PRELOAD"] is False
    assert shown["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert shown["CLIENT_IP_HEADER"] == "" and shown["X_FRAME_OPTIONS"] == "DENY"
    assert shown["cache"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert shown["cache"]["LOCATION"] == "redis://cache:6379/0"
    assert (shown["RATELIMIT_LOGIN_PER_IP"], shown["RATELIMIT_LOGIN_PER_USERNAME"]) == ("10/m", "5/m")
    assert shown["RATELIMIT_API_AUTH_FAILURES"] == "20/m"


def test_the_security_variables_are_honoured(tmp_path):
    env = {
        **PRODUCTION,
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "600",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
        "CLIENT_IP_HEADER": "X-Real-IP",
        "RATELIMIT_LOGIN_PER_IP": "30/h",
        "RATELIMIT_LOGIN_PER_USERNAME": "3/5m",
        "RATELIMIT_API_AUTH_FAILURES": "100/m",
    }
    result = start(tmp_path, SHOW_SECURITY, **env)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["SECURE_SSL_REDIRECT"] is False and shown["SECURE_HSTS_SECONDS"] == 600
    assert shown["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is shown["SECURE_HSTS_PRELOAD"] is True
    assert shown["CLIENT_IP_HEADER"] == "HTTP_X_REAL_IP"
    assert (shown["RATELIMIT_LOGIN_PER_IP"], shown["RATELIMIT_LOGIN_PER_USERNAME"]) == ("30/h", "3/5m")
    assert shown["RATELIMIT_API_AUTH_FAILURES"] == "100/m"


def test_development_keeps_plain_http_but_the_content_security_policy(tmp_path):
    result = start(tmp_path, SHOW_SECURITY)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["SESSION_COOKIE_SECURE"] is shown["CSRF_COOKIE_SECURE"] is shown["SECURE_SSL_REDIRECT"] is False
    assert shown["SECURE_HSTS_SECONDS"] == 0 and shown["SECURE_PROXY_SSL_HEADER"] is None
    assert shown["cache"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    assert "csp.middleware.CSPMiddleware" in shown["MIDDLEWARE"]
    directives = shown["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]
    assert directives["script-src"] == directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"] and directives["form-action"] == ["'self'"]


def check_deploy(tmp_path, **env: str) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DJANGO_SETTINGS_MODULE": "pandaprobe.settings"}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_only_the_hsts_choices_the_readme_explains(tmp_path):
    result = check_deploy(tmp_path, **PRODUCTION)
    reported = sorted(set(re.findall(r"\((\w+\.\w+)\)", result.stderr + result.stdout)))
    assert reported == ["security.W005", "security.W021"], result.stderr
    readme = (REPO / "README.md").read_text()
    assert all(check in readme for check in reported)


def test_check_deploy_is_clean_once_hsts_covers_subdomains_and_preload(tmp_path):
    env = {**PRODUCTION, "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true", "SECURE_HSTS_PRELOAD": "true"}
    result = check_deploy(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_the_four_password_validators_are_on_and_demo_passwords_pass_them():
    from django.contrib.auth.password_validation import get_default_password_validators, validate_password
    from django.core.exceptions import ValidationError

    from pandaprobe.traces.demo import demo_user_ensure

    assert len(get_default_password_validators()) == 4
    user, password = demo_user_ensure(username="reviewer")
    validate_password(password, user)
    for weak in ["short1", "password123", "83920174658", "reviewer1"]:
        with pytest.raises(ValidationError):
            validate_password(weak, user)
