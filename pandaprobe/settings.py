"""One settings module for every environment.

Development needs no environment at all (SQLite file, in-process Dramatiq broker, DEBUG on);
production differs only by environment variables. A malformed value stops start-up with a
message that names the variable.
"""

import os
import re
from pathlib import Path
from urllib.parse import urlparse

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false/1/0), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


_RATE = re.compile(r"(\d+)/(\d*)[smhd]")

_DATABASE_SCHEMES = {"sqlite", "postgres", "postgresql", "pgsql", "psql"}


def env_database(name: str, default: str) -> dict:
    raw = env_str(name) or default
    scheme = urlparse(raw).scheme
    if scheme not in _DATABASE_SCHEMES:
        raise ImproperlyConfigured(
            f"{name} must be a sqlite:// or postgres:// URL, got scheme {scheme!r} in {raw!r}"
        )
    try:
        config = environ.Env.db_url_config(raw)
    except (ImproperlyConfigured, KeyError, ValueError) as exc:
        raise ImproperlyConfigured(f"{name} is not a valid database URL ({exc}): {raw!r}") from None
    return config


def env_rate(name: str, default: str) -> str:
    """A django-ratelimit rate such as `10/m` (count per s, m, h or d; `100/5m` also works)."""
    raw = env_str(name, default)
    match = _RATE.fullmatch(raw)
    if match is None or int(match.group(1)) < 1:
        raise ImproperlyConfigured(f"{name} must be a rate like 10/m (at least 1 per s, m, h or d), got {raw!r}")
    return raw


def _meta_header(name: str, header: str) -> str:
    """A request header as Django's `request.META` names it: `X-Real-IP` and `HTTP_X_REAL_IP` both
    give `HTTP_X_REAL_IP`."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", header):
        raise ImproperlyConfigured(f"{name} must name a header such as X-Real-IP, got {header!r}")
    meta = header.upper().replace("-", "_")
    return meta if meta.startswith("HTTP_") else f"HTTP_{meta}"


def env_meta_header(name: str) -> str:
    raw = env_str(name)
    return _meta_header(name, raw) if raw else ""


def env_proxy_ssl_header(name: str) -> tuple[str, str] | None:
    """`X-Forwarded-Proto,https` (or `HTTP_X_FORWARDED_PROTO,https`): the header the TLS proxy sets and
    the value that means the client used HTTPS. Only set it behind a proxy that overwrites the header."""
    raw = env_str(name)
    if not raw:
        return None
    header, _, value = (part.strip() for part in raw.partition(","))
    if not header or not value or "," in value:
        raise ImproperlyConfigured(f"{name} must be `<header>,<value>` like X-Forwarded-Proto,https, got {raw!r}")
    return _meta_header(name, header), value


def env_redis_url(name: str) -> str:
    raw = env_str(name)
    if raw and urlparse(raw).scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(f"{name} must be a redis://, rediss:// or unix:// URL, got {raw!r}")
    return raw


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "django_ratelimit",
    "django_dramatiq",
    "pandaprobe",
    "pandaprobe.projects",
    "pandaprobe.traces",
    "evaluations",
    "analytics",
]

MIDDLEWARE = [
    # First, so that it sees every answer: no API path answers HTML, with DEBUG on or off.
    "pandaprobe.api.middleware.JsonErrorsMiddleware",
    "pandaprobe.api.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "pandaprobe.middleware.DomainErrorPagesMiddleware",
]

ROOT_URLCONF = "pandaprobe.urls"
WSGI_APPLICATION = "pandaprobe.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "pandaprobe.projects.context_processors.current_project",
            ],
        },
    },
]

DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The embedded default serves a web server and an in-process worker at once: WAL and
    # IMMEDIATE transactions keep concurrent writers from failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
elif env_int("DB_POOL_MAX_SIZE", 16):
    # A pool per process (psycopg_pool): a worker's targets give their connection back while they wait
    # on the judge and take one again to store the scores; without a pool each of those was a new
    # server process (measured in the runs benchmark: two per trace, milliseconds of CPU each).
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1, "max_size": env_int("DB_POOL_MAX_SIZE", 16), "timeout": 30,
    }  # fmt: skip
else:  # DB_POOL_MAX_SIZE=0: persistent connections instead, one per thread
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Applied wherever Django sets a password from a form (admin, `createsuperuser`, `changepassword`);
# `seed_demo`'s random 16-character passwords pass all four.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# In development (and tests) WhiteNoise serves straight from the finders, so /docs works without
# `collectstatic`; production serves the collected files.
WHITENOISE_USE_FINDERS = DEBUG

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# Requests larger than this are refused with 413 before their body is read.
MAX_REQUEST_BODY_BYTES = env_int("MAX_REQUEST_BODY_BYTES", 10 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "pandaprobe.projects.authentication.ApiKeyAuthentication",
        "pandaprobe.projects.authentication.BearerTokenAuthentication",
        "pandaprobe.projects.authentication.SessionProjectAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["pandaprobe.projects.authentication.HasProjectAccess"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["pandaprobe.api.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "pandaprobe.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # `?format=` belongs to the export endpoints, not to DRF's renderer switch.
    "URL_FORMAT_OVERRIDE": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "PandaProbe Eval",
    "DESCRIPTION": "Self-hostable evaluation service for AI-agent traces (PandaProbe-compatible API).",
    "VERSION": "0.1.0",
    # 3.1 like the reference document; the pydantic request bodies use its `"type": "null"`.
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": False,
    # The API's path converters (pandaprobe/api/paths.py) match any segment so that a bad one is a 422.
    "PATH_CONVERTER_OVERRIDES": {"api_uuid": {"type": "string", "format": "uuid"}, "session": str},
    # Error responses, nullable fields as `anyOf` with null, required response fields: one hook.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "pandaprobe.api.schema.postprocess",
    ],
    # Security schemes come from pandaprobe/projects/schema.py, one per authentication class.
    # Enums named as in the reference document (several models have a `status`).
    "ENUM_NAME_OVERRIDES": {
        "TraceStatus": "pandaprobe.traces.models.TraceStatus",
        "SpanKind": "pandaprobe.traces.models.SpanKind",
        "SpanStatusCode": "pandaprobe.traces.models.SpanStatus",
        "ScoreDataType": "evaluations.models.ScoreDataType",
        "ScoreSource": "evaluations.models.ScoreSource",
        "CallerScoreSource": "evaluations.api.serializers.CALLER_SOURCES",  # what a request may send
        "ScoreStatus": "evaluations.models.ScoreStatus",
        # A run request's `metrics`: trace runs and session runs take different names.
        "TraceMetric": "evaluations.metrics.TRACE_METRIC_NAMES",
        "SessionMetric": "evaluations.metrics.SESSION_METRIC_NAMES",
    },
}

# Dramatiq: a Redis broker and separate worker processes when REDIS_URL is set; otherwise an
# in-memory broker whose worker runs inside the web process (`manage.py serve`, `make run`).
REDIS_URL = env_redis_url("REDIS_URL")
if not REDIS_URL and not DEBUG:
    # Production runs gunicorn and `rundramatiq`: with the in-memory broker nothing would consume the
    # queue (jobs silently never run), and each process would count login attempts on its own.
    raise ImproperlyConfigured(
        "REDIS_URL must be set when DEBUG is off: the background workers and the login throttle need Redis"
    )
_DRAMATIQ_MIDDLEWARE = [
    "dramatiq.middleware.AgeLimit",
    "dramatiq.middleware.TimeLimit",
    "dramatiq.middleware.Callbacks",
    "dramatiq.middleware.Retries",
    "django_dramatiq.middleware.DbConnectionsMiddleware",
    "evaluations.reaper.RunReaper",
    "evaluations.worker.JudgeWarmUp",
]
# Parallel test processes (pytest-xdist) share one Redis; each gets its own key namespace.
DRAMATIQ_NAMESPACE = env_str("DRAMATIQ_NAMESPACE", "dramatiq") + (
    f"-{os.environ['PYTEST_XDIST_WORKER']}" if os.environ.get("PYTEST_XDIST_WORKER") else ""
)
if REDIS_URL:
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.redis.RedisBroker",
        "OPTIONS": {"url": REDIS_URL, "namespace": DRAMATIQ_NAMESPACE},
        "MIDDLEWARE": _DRAMATIQ_MIDDLEWARE,
    }
else:
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.stub.StubBroker",
        "OPTIONS": {},
        "MIDDLEWARE": _DRAMATIQ_MIDDLEWARE,
    }
DRAMATIQ_TASKS_DATABASE = "default"
DRAMATIQ_AUTODISCOVER_MODULES = ["tasks"]
# Worker threads for the in-process worker of `manage.py serve`.
INPROCESS_WORKER_THREADS = env_int("INPROCESS_WORKER_THREADS", 2, minimum=1)

# django-ratelimit counts attempts in the default cache, which every web process must share: Redis
# in production (the same server as the broker, under the same key prefix).
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": DRAMATIQ_NAMESPACE,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SILENCED_SYSTEM_CHECKS = [
    # django-ratelimit's "backend not officially supported": its list predates Django's own RedisCache,
    # which has the atomic `add` (SET NX with expiry) and `incr` (INCR) the counts need.
    "django_ratelimit.W001",
]
if not REDIS_URL:
    # "Not a shared cache": development only (DEBUG off requires REDIS_URL), where one process
    # (`manage.py serve`) serves everything, so its own cache sees every attempt.
    SILENCED_SYSTEM_CHECKS.append("django_ratelimit.E003")

# Throttles (django-ratelimit rates: count per s, m, h or d). Sign-in forms (/app/login/ and
# /admin/login/) count every POST per client address and per submitted username; the API counts
# failed API-key and Bearer authentications per client address and, past the limit, refuses every
# request from that address that carries a credential until the window ends.
RATELIMIT_LOGIN_PER_IP = env_rate("RATELIMIT_LOGIN_PER_IP", "10/m")
RATELIMIT_LOGIN_PER_USERNAME = env_rate("RATELIMIT_LOGIN_PER_USERNAME", "5/m")
RATELIMIT_API_AUTH_FAILURES = env_rate("RATELIMIT_API_AUTH_FAILURES", "20/m")
# Creating and retrying evaluation runs, per credential.
RATELIMIT_EVAL_RUNS = env_rate("RATELIMIT_EVAL_RUNS", "50/m")
# The client address is REMOTE_ADDR unless CLIENT_IP_HEADER names a header that the proxy in front
# sets (never trust X-Forwarded-For from the open internet: anyone can send it).
CLIENT_IP_HEADER = env_meta_header("CLIENT_IP_HEADER")

# --- Transport and browser security --------------------------------------------------------------
# With DEBUG off the site is served over HTTPS (a TLS-terminating proxy in front): cookies only travel
# over TLS, and browsers are told to use nothing else. README "Production" lists what
# `manage.py check --deploy` still reports, and why.
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# A load balancer's health check may speak plain HTTP to the web process.
SECURE_REDIRECT_EXEMPT = [r"^health$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER = env_proxy_ssl_header("SECURE_PROXY_SSL_HEADER")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp) on every response, DEBUG on or off, so development sees what
# production enforces. The pages' scripts and styles are files under static/ (no inline <script>,
# `on*=` or `style=`): nothing inline runs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],  # Swagger UI's icons (/docs) are data: URIs in its CSS
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper() or "INFO"},
}

# The LLM judge (evaluations/judge.py). With no model set, creating a run answers 4xx saying how to
# configure one. PANDAPROBE_JUDGE_API_BASE points litellm at any OpenAI-compatible server.
PANDAPROBE_JUDGE_MODEL = env_str("PANDAPROBE_JUDGE_MODEL")
PANDAPROBE_JUDGE_EMBEDDING_MODEL = env_str("PANDAPROBE_JUDGE_EMBEDDING_MODEL", "text-embedding-3-small")
PANDAPROBE_JUDGE_API_BASE = env_str("PANDAPROBE_JUDGE_API_BASE")
PANDAPROBE_JUDGE_API_KEY = env_str("PANDAPROBE_JUDGE_API_KEY")
PANDAPROBE_JUDGE_TIMEOUT = env_int("PANDAPROBE_JUDGE_TIMEOUT", 60, minimum=1)
PANDAPROBE_JUDGE_MAX_RETRIES = env_int("PANDAPROBE_JUDGE_MAX_RETRIES", 3)
# Judge calls in flight at once in one worker process.
PANDAPROBE_JUDGE_CONCURRENCY = env_int("PANDAPROBE_JUDGE_CONCURRENCY", 8, minimum=1)
# About how many tokens of a trace go into a prompt; longer traces are cut with a visible marker.
PANDAPROBE_JUDGE_TRACE_TOKENS = env_int("PANDAPROBE_JUDGE_TRACE_TOKENS", 12000, minimum=500)
# Traces (or sessions) per worker message, scored side by side: with a worker's threads, how many are
# in flight. A message ends with its slowest target, so its thread takes no new work until then: few
# targets a message keep the judge's slots busy (the runs benchmark, 2 worker processes, 100 traces,
# 32 calls in flight: 8 a message x 4 threads 5.0-6.4 s, each wave of messages waiting for its
# slowest trace; 16 x 4, 8.3-11.4 s). Threads x this, the traces under way in a process, about the
# process's PANDAPROBE_JUDGE_CONCURRENCY: more only make the first calls wait while all of them read
# the database (4 x 8 threads: 7.0 s, 4 x 4: 5.9-6.2 s). Database connections are held only while a
# target reads or writes, not while it waits.
PANDAPROBE_RUN_TARGETS_PER_MESSAGE = env_int("PANDAPROBE_RUN_TARGETS_PER_MESSAGE", 4, minimum=1)
# A worker holds a run's item this long; after it, the item is handed out again (a killed worker).
PANDAPROBE_RUN_LEASE_SECONDS = env_int("PANDAPROBE_RUN_LEASE_SECONDS", 900, minimum=1)
# How often each worker looks for run work that no live worker holds (0 turns the reaper off).
PANDAPROBE_REAPER_SECONDS = env_int("PANDAPROBE_REAPER_SECONDS", 60)
