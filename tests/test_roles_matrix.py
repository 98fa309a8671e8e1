"""Who may write what: every write route × every kind of caller, read from one table.

Each row of `API_MATRIX` and `PAGE_MATRIX` is a route with the status each actor must get. A refused
request must leave every row it could touch exactly as it was; an accepted one must change
something, which shows that the "nothing changed" comparison does see changes.
"""

import re
import uuid
from collections.abc import Callable

import pytest
from django.apps import apps
from django.test import Client
from django.urls import URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework.views import APIView

from evaluations.models import ScoreConfig, ScoreSource
from evaluations.services.queues import review_queue_create
from evaluations.services.runs import eval_run_create_batch, session_eval_run_create_batch
from evaluations.services.scores import trace_score_create
from evaluations.services.session_scores import session_score_create
from pandaprobe.projects.access import ProjectAccess
from pandaprobe.projects.models import Membership

from .factories import SpanFactory, TraceFactory

pytestmark = pytest.mark.django_db

API_KEY, ADMIN, REVIEWER, NON_MEMBER = "api_key", "admin", "reviewer", "non_member"
# The browser session reaching the API (SessionProjectAuthentication), for a few rows.
REVIEWER_SESSION, NON_MEMBER_SESSION = "reviewer_session", "non_member_session"
NOT_A_MEMBER = "You are not a member of this project"
SESSION = "chat-1"
STARTED = "2026-01-05T10:00:00Z"

# Everything a write route could touch, compared whole, across projects: every table of these apps
# (a table added later is compared too).
SNAPSHOT_APPS = ("projects", "traces", "evaluations")


def snapshot() -> dict[str, list[dict]]:
    models = [m for app in SNAPSHOT_APPS for m in apps.get_app_config(app).get_models(include_auto_created=True)]
    return {model._meta.label: list(model.objects.order_by("pk").values()) for model in models}


# --- request bodies, from the world's ids ---------------------------------------------------------


def _score(subject: str, source: str) -> Callable[[dict], dict]:
    def body(ids: dict) -> dict:
        target = {"trace_id": ids["trace"]} if subject == "trace" else {"session_id": SESSION}
        return {**target, "name": "verdict", "value": "0.4", "source": source}

    return body


BODIES: dict[str, Callable[[dict], object]] = {
    "run by filter": lambda ids: {"metrics": ["confidence"]},
    "run of ids": lambda ids: {"trace_ids": [ids["trace"]], "metrics": ["confidence"]},
    "session run by filter": lambda ids: {"metrics": ["agent_reliability"], "filters": {"min_trace_count": 1}},
    "session run of ids": lambda ids: {"session_ids": [ids["session"]], "metrics": ["agent_reliability"]},
    "none": lambda ids: None,
    "new trace": lambda ids: {"trace_id": str(uuid.uuid4()), "name": "run", "started_at": STARTED},
    "rename": lambda ids: {"name": "renamed"},
    "new span": lambda ids: [{"span_id": str(uuid.uuid4()), "name": "fetch", "started_at": STARTED}],
    "trace ids": lambda ids: {"trace_ids": [ids["trace2"]]},
    "tags": lambda ids: {"trace_ids": [ids["trace2"]], "add_tags": ["triaged"]},
    "trace ANNOTATION": _score("trace", ScoreSource.ANNOTATION),
    "trace PROGRAMMATIC": _score("trace", ScoreSource.PROGRAMMATIC),
    "trace AUTOMATED": _score("trace", ScoreSource.AUTOMATED),
    "session ANNOTATION": _score("session", ScoreSource.ANNOTATION),
    "session PROGRAMMATIC": _score("session", ScoreSource.PROGRAMMATIC),
    "session AUTOMATED": _score("session", ScoreSource.AUTOMATED),
    "new value": lambda ids: {"value": "0.9", "reason": "second look"},
    "new config": lambda ids: {"name": "clarity", "data_type": "NUMERIC"},
    "describe": lambda ids: {"description": "How clear the answer is"},
}

TS, SS, CFG = "/evaluations/trace-scores", "/evaluations/session-scores", "/evaluations/score-configs"
RUNS, SRUNS = "/evaluations/trace-runs", "/evaluations/session-runs"
# {own_*}: the reviewer's annotation; {others_*}: the admin's annotation; {prog_*}: a PROGRAMMATIC score.
API_MATRIX = [
    # method  path                        body                   api_key admin reviewer non_member
    ("POST",   "/traces",                 "new trace",             202,  202,   403,    403),
    ("PATCH",  "/traces/{trace}",         "rename",                200,  200,   403,    403),
    ("DELETE", "/traces/{trace}",         "none",                  204,  204,   403,    403),
    ("POST",   "/traces/{trace}/spans",   "new span",              201,  201,   403,    403),
    ("PATCH",  "/traces/{trace}/spans/{span}", "rename",           200,  200,   403,    403),
    ("POST",   "/traces/batch/delete",    "trace ids",             200,  200,   403,    403),
    ("POST",   "/traces/batch/tags",      "tags",                  200,  200,   403,    403),
    ("DELETE", "/sessions/{session}",     "none",                  200,  200,   403,    403),
    ("POST",   TS,                        "trace ANNOTATION",      201,  201,   201,    403),
    ("POST",   TS,                        "trace PROGRAMMATIC",    201,  201,   403,    403),
    # AUTOMATED is not among the sources the API takes (422); the role table refuses it too.
    ("POST",   TS,                        "trace AUTOMATED",       422,  422,   422,    403),
    ("PATCH",  TS + "/{own_ts}",          "new value",             200,  200,   200,    403),
    ("PATCH",  TS + "/{others_ts}",       "new value",             200,  200,   403,    403),
    ("PATCH",  TS + "/{prog_ts}",         "new value",             200,  200,   403,    403),
    ("DELETE", TS + "/{own_ts}",          "none",                  204,  204,   204,    403),
    ("DELETE", TS + "/{others_ts}",       "none",                  204,  204,   403,    403),
    ("DELETE", TS + "/{prog_ts}",         "none",                  204,  204,   403,    403),
    ("POST",   SS,                        "session ANNOTATION",    201,  201,   201,    403),
    ("POST",   SS,                        "session PROGRAMMATIC",  201,  201,   403,    403),
    ("POST",   SS,                        "session AUTOMATED",     422,  422,   422,    403),
    ("PATCH",  SS + "/{own_ss}",          "new value",             200,  200,   200,    403),
    ("PATCH",  SS + "/{others_ss}",       "new value",             200,  200,   403,    403),
    ("PATCH",  SS + "/{prog_ss}",         "new value",             200,  200,   403,    403),
    ("DELETE", SS + "/{own_ss}",          "none",                  204,  204,   204,    403),
    ("DELETE", SS + "/{others_ss}",       "none",                  204,  204,   403,    403),
    ("DELETE", SS + "/{prog_ss}",         "none",                  204,  204,   403,    403),
    ("POST",   CFG,                       "new config",            201,  201,   403,    403),
    ("PATCH",  CFG + "/{config}",         "describe",              200,  200,   403,    403),
    ("DELETE", CFG + "/{config}",         "none",                  204,  204,   403,    403),
    ("POST",   RUNS,                      "run by filter",         202,  202,   403,    403),
    ("POST",   RUNS + "/batch",           "run of ids",            202,  202,   403,    403),
    ("POST",   RUNS + "/{run}/retry",     "none",                  202,  202,   403,    403),
    ("POST",   RUNS + "/{run}/cancel",    "none",                  200,  200,   403,    403),
    ("DELETE", RUNS + "/{run}",           "none",                  204,  204,   403,    403),
    ("POST",   SRUNS,                     "session run by filter", 202,  202,   403,    403),
    ("POST",   SRUNS + "/batch",          "session run of ids",    202,  202,   403,    403),
    ("POST",   SRUNS + "/{srun}/retry",   "none",                  202,  202,   403,    403),
    ("POST",   SRUNS + "/{srun}/cancel",  "none",                  200,  200,   403,    403),
    ("DELETE", SRUNS + "/{srun}",         "none",                  204,  204,   403,    403),
]  # fmt: skip
API_ACTORS = (API_KEY, ADMIN, REVIEWER, NON_MEMBER)
# Rows also sent from a signed-in browser (expected: the reviewer's and the non-member's columns).
SESSION_ROWS = {
    ("POST", TS, "trace ANNOTATION"),
    ("PATCH", TS + "/{others_ts}", "new value"),
    ("DELETE", "/traces/{trace}", "none"),
}

# Page forms, with the browser session, under `{project}`: this project for its members, and for a
# non-member their own project, where this project's trace, session and config ids do not exist
# (under this project's own URL, every form is a 404 to them: `test_a_non_member_posts_no_page_form`).
PAGE_MATRIX = [
    # path                                         form            admin  reviewer non_member
    ("/app/p/{project}/traces/{trace}/score/",     "score form",   302,   302,     404),
    ("/app/p/{project}/sessions/{session}/",       "score form",   302,   302,     404),
    ("/app/p/{project}/queues/new/",               "queue form",   302,   403,     422),
    # The explorer's selection: this project's queue does not exist in the non-member's project.
    ("/app/p/{project}/traces/selection/",         "add to queue", 302,   403,     404),
    ("/app/p/{project}/runs/new/",                 "run form",     302,   403,     422),
    ("/app/p/{project}/runs/{run}/retry/",         "empty form",   302,   403,     404),
    ("/app/p/{project}/runs/{run}/cancel/",        "empty form",   302,   403,     404),
    ("/app/p/{project}/runs/{run}/delete/",        "empty form",   302,   403,     404),
]  # fmt: skip
PAGE_ACTORS = (ADMIN, REVIEWER, NON_MEMBER)
FORMS: dict[str, Callable[[dict], dict]] = {
    "score form": lambda ids: {"kind": "free:NUMERIC", "name": "helpfulness", "value": "0.5"},
    "queue form": lambda ids: {
        "name": "Weekly review", "score_configs": [ids["config"]], "reviewers": [ids["reviewer"]],
        "reviewers_per_item": 1, "hold_minutes": 10, "source": "selection", "trace_ids": ids["trace"],
        "limit": 100,
    },  # fmt: skip
    # Every trace of the browser's current project (a non-member's own project has none: 422).
    "run form": lambda ids: {"metrics": ["confidence"], "sampling_rate": "1", "action": "start"},
    "empty form": lambda ids: {},
    "add to queue": lambda ids: {"action": "queue", "queue": ids["queue"], "trace_ids": [ids["trace2"]]},
}


def _cases(matrix, actors) -> list:
    """One case per (row, actor): the row's route, the actor, the status in the actor's column."""
    return [
        pytest.param(*row[: -len(actors)], actor, status, id=f"{' '.join(row[: -len(actors)])} [{actor}]")
        for row in matrix
        for actor, status in zip(actors, row[-len(actors) :], strict=True)
    ]


def _session_cases() -> list:
    columns = {REVIEWER_SESSION: API_ACTORS.index(REVIEWER), NON_MEMBER_SESSION: API_ACTORS.index(NON_MEMBER)}
    return [
        pytest.param(*row[:3], actor, row[3 + column], id=f"{' '.join(row[:3])} [{actor}]")
        for row in API_MATRIX
        if row[:3] in SESSION_ROWS
        for actor, column in columns.items()
    ]


# --- the world: one project with a trace, a span, scores of every kind, a config -----------------


@pytest.fixture
def world(project, admin_user, reviewer, judge_stub) -> dict:
    trace = TraceFactory(project=project, session_id=SESSION)
    trace2 = TraceFactory(project=project, session_id="chat-2")
    span = SpanFactory(trace=trace)
    as_reviewer = ProjectAccess(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    as_admin = ProjectAccess(project=project, user=admin_user, role=Membership.Role.ADMIN)
    as_code = ProjectAccess.system(project)  # a PROGRAMMATIC score, as an API key would send it
    ids = {"trace": str(trace.pk), "trace2": str(trace2.pk), "span": str(span.span_id), "session": SESSION}
    for prefix, create, subject in (
        ("ts", trace_score_create, {"trace_id": trace.pk}),
        ("ss", session_score_create, {"session_id": SESSION}),
    ):
        for key, access, source in (
            ("own", as_reviewer, ScoreSource.ANNOTATION),
            ("others", as_admin, ScoreSource.ANNOTATION),
            ("prog", as_code, ScoreSource.PROGRAMMATIC),
        ):
            score = create(access=access, name=f"{key}-score", value="0.5", source=source, **subject)
            ids[f"{key}_{prefix}"] = str(score.pk)
    config = ScoreConfig.objects.create(project=project, name="quality", data_type="NUMERIC")
    queue = review_queue_create(access=as_admin, name="Triage", score_configs=[config], reviewers=[reviewer],
                                trace_ids=[trace.pk])  # fmt: skip
    # A run with a failed score: it can be retried, cancelled (it has not ended) and deleted.
    run = eval_run_create_batch(access=as_code, trace_ids=[trace.pk], metrics=["confidence"])
    trace_score_create(access=as_code, trace_id=trace.pk, name="confidence", value=None, status="FAILED",
                       reason="the judge timed out", eval_run_id=run.pk)  # fmt: skip
    srun = session_eval_run_create_batch(access=as_code, session_ids=[SESSION], metrics=["agent_reliability"])
    session_score_create(access=as_code, session_id=SESSION, name="agent_reliability", value=None,
                         status="FAILED", reason="the judge timed out", eval_run_id=srun.pk)  # fmt: skip
    return {**ids, "config": str(config.pk), "reviewer": str(reviewer.pk), "run": str(run.pk), "srun": str(srun.pk),
            "queue": str(queue.pk), "project": str(project.pk)}  # fmt: skip


@pytest.fixture
def clients(project, admin_user, reviewer, outsider, api, bearer_client) -> Callable[[str], APIClient]:
    def signed_in(user) -> APIClient:
        client = APIClient()
        client.force_login(user)
        client.credentials(HTTP_X_PROJECT_ID=str(project.pk))
        return client

    makers = {
        API_KEY: lambda: api,
        ADMIN: lambda: bearer_client(admin_user, project),
        REVIEWER: lambda: bearer_client(reviewer, project),
        NON_MEMBER: lambda: bearer_client(outsider, project),  # an admin elsewhere, naming this project
        REVIEWER_SESSION: lambda: signed_in(reviewer),
        NON_MEMBER_SESSION: lambda: signed_in(outsider),
    }
    return lambda actor: makers[actor]()


def _send(client, method: str, path: str, body):
    send = getattr(client, method.lower())
    return send(path) if body is None else send(path, body, format="json")


def _check(response, status: int, actor: str, before: dict) -> None:
    assert response.status_code == status, (actor, response.status_code, response.content[:300])
    if status < 400:
        assert snapshot() != before, "an accepted write changed nothing"
        return
    assert snapshot() == before, "a refused write changed something"
    detail = response.json()["detail"]
    # A request-shape error is the reference's list of errors; every refusal by a rule is one message.
    assert isinstance(detail, list if status == 422 else str) and detail
    if actor in (NON_MEMBER, NON_MEMBER_SESSION):
        assert detail == NOT_A_MEMBER


@pytest.mark.parametrize(("method", "path", "body", "actor", "status"), _cases(API_MATRIX, API_ACTORS))
def test_api_write(world, clients, method, path, body, actor, status):
    client = clients(actor)
    before = snapshot()
    response = _send(client, method, path.format(**world), BODIES[body](world))
    _check(response, status, actor, before)


@pytest.mark.parametrize(("method", "path", "body", "actor", "status"), _session_cases())
def test_api_write_from_a_browser_session(world, clients, method, path, body, actor, status):
    client = clients(actor)
    before = snapshot()
    response = _send(client, method, path.format(**world), BODIES[body](world))
    _check(response, status, actor, before)


@pytest.mark.parametrize(("path", "form", "actor", "status"), _cases(PAGE_MATRIX, PAGE_ACTORS))
def test_page_form(world, admin_user, reviewer, outsider, other_project, path, form, actor, status):
    client = Client()
    client.force_login({ADMIN: admin_user, REVIEWER: reviewer, NON_MEMBER: outsider}[actor])
    in_project = {**world, "project": str(other_project.pk)} if actor == NON_MEMBER else world
    before = snapshot()
    response = client.post(path.format(**in_project), FORMS[form](world))
    assert response.status_code == status, (actor, response.content[:300])
    assert (snapshot() == before) is (status >= 400)


@pytest.mark.parametrize(("path", "form"), [row[:2] for row in PAGE_MATRIX])
def test_a_non_member_posts_no_page_form(world, outsider, path, form):
    """Under this project's URL, whatever the form: the 404 page, and nothing changes."""
    client = Client()
    client.force_login(outsider)
    before = snapshot()
    response = client.post(path.format(**world), FORMS[form](world))
    assert response.status_code == 404 and b"Not found" in response.content
    assert snapshot() == before


def test_every_api_write_route_is_in_the_matrix():
    """A new write route (or method) must get a row: compared with the URL patterns' views."""
    in_matrix = {(method, re.sub(r"\{[^}]+\}", "{}", path)) for method, path, *_ in API_MATRIX}
    assert {(m, path) for m, path in _api_routes(get_resolver()) if m != "GET"} == in_matrix


def _api_routes(resolver, prefix: str = "") -> set[tuple[str, str]]:
    """(method, path with {} for each parameter) of every method of the API's views (not the pages)."""
    routes = set()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if not route.startswith(("admin/", "app/")):  # pages: PAGE_MATRIX
                routes |= _api_routes(entry, route)
            continue
        view = getattr(entry.callback, "view_class", None)
        if not (isinstance(view, type) and issubclass(view, APIView)):
            continue
        path = "/" + re.sub(r"<[^>]+>", "{}", route)
        routes |= {(m.upper(), path) for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m)}
    return routes


# --- reads: a reviewer reads everything ----------------------------------------------------------

API_READS = [
    "/health", "/openapi.json", "/docs", "/traces", "/traces/{trace}", "/sessions", "/sessions/{session}",
    TS, TS + "/export?format=csv", TS + "/{trace}", TS + "/{own_ts}/history", SS, SS + "/{session}",
    CFG, CFG + "/{config}", "/evaluations/trace-metrics", "/evaluations/providers", RUNS,
    RUNS + "/template?metric=confidence", RUNS + "/{run}", RUNS + "/{run}/scores",
    "/evaluations/session-metrics", SRUNS, SRUNS + "/{srun}", SRUNS + "/{srun}/scores",
    *(f"/evaluations/analytics/{kind}-scores/{view}?metric_name=confidence"
      for kind in ("trace", "session") for view in ("summary", "trend", "distribution")),
    "/evaluations/analytics/trace-scores/agreement?metric_name=confidence",
    "/evaluations/analytics/session-scores/history/{session}?metric_name=agent_reliability",
    "/evaluations/analytics/session-scores/comparison?metric_name=agent_reliability",
    "/traces/analytics?started_after=2020-01-01T00:00:00Z&started_before=2100-01-01T00:00:00Z",
    "/sessions/analytics?started_after=2020-01-01T00:00:00Z&started_before=2100-01-01T00:00:00Z",
    "/traces/users", "/me",
]  # fmt: skip
PAGE_READS = [
    "/app/p/{project}/traces/", "/app/p/{project}/traces/{trace}/", "/app/p/{project}/sessions/",
    "/app/p/{project}/sessions/{session}/", "/app/p/{project}/queues/", "/app/p/{project}/runs/",
    "/app/p/{project}/runs/{run}/", "/app/p/{project}/runs/{run}/progress", "/app/p/{project}/analytics/",
]  # fmt: skip


def test_a_reviewer_reads_everything(world, clients, client, reviewer):
    as_reviewer = clients(REVIEWER)
    for path in API_READS:
        response = as_reviewer.get(path.format(**world))
        assert response.status_code == 200, path
        if response.streaming:
            # Read to the end, as a server does: the export streams from inside a transaction
            # (PostgreSQL), which a half-read response would leave open for the requests below.
            b"".join(response.streaming_content)
    client.force_login(reviewer)
    for path in PAGE_READS:
        assert client.get(path.format(**world)).status_code == 200, path


def test_every_api_read_route_is_listed():
    listed = {re.sub(r"\{[^}]+\}", "{}", path.split("?")[0]) for path in API_READS}
    assert {path for method, path in _api_routes(get_resolver()) if method == "GET"} == listed
