"""Path parameters: a value its route cannot take is a 422 naming it, like the reference (never
Django's 404 page); the pages answer 404 for an id that cannot exist (pandaprobe/api/paths.py)."""

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from pandaprobe.api.paths import ApiView
from pandaprobe.traces.models import Trace

from ..errors import error_locs
from ..factories import SpanFactory, TraceFactory

METHODS = ("get", "post", "patch", "delete")
# A bad value for each of the API's lenient converters.
BAD_VALUE = {"api_uuid": "not-a-uuid", "session": "a%00b"}
PARAMETER = re.compile(r"<(\w+):(\w+)>")


def _api_routes(resolvers=None, prefix: str = ""):
    """(route, view) of every route with a parameter of a lenient converter."""
    for entry in resolvers if resolvers is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            yield from _api_routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and set(PARAMETER.findall(str(entry.pattern))) & {
            (kind, name)
            for kind in BAD_VALUE
            for name in ("trace_id", "span_id", "score_id", "config_id", "session_id")
        }:
            yield prefix + str(entry.pattern), entry.callback


def _with(route: str, bad_name: str) -> str:
    """The route with `bad_name` given a bad value and every other parameter a fresh UUID."""

    def value(match: re.Match) -> str:
        kind, name = match.groups()
        return BAD_VALUE[kind] if name == bad_name else str(uuid.uuid4())

    return "/" + PARAMETER.sub(value, route)


ROUTES = list(_api_routes())


def test_the_lenient_converters_are_used_by_api_views_only():
    assert len(ROUTES) >= 9
    for route, view in ROUTES:
        view_class = getattr(view, "cls", None) or getattr(view, "view_class", None)
        # A view that is not an ApiView would hand the bad value on to a query.
        assert view_class is not None and issubclass(view_class, ApiView), route


# Routes that share one URL: GET takes one id, PATCH and DELETE a score id (`SharedRouteView`).
SHARED = {"evaluations/trace-scores/<": {"trace_id", "score_id"},
          "evaluations/session-scores/<": {"session_id", "score_id"}}  # fmt: skip


@pytest.mark.parametrize("route", sorted({route for route, _ in ROUTES}))
def test_every_bad_path_parameter_is_a_422_naming_it(api, route):
    if resolve(_with(route, "")).route != route:
        pytest.skip("documents a method of a shared URL; the route before it answers")
    for _, name in PARAMETER.findall(route):
        answered = set()
        for method in METHODS:
            response = getattr(api, method)(_with(route, name), {}, format="json")
            if response.status_code == 405:
                continue
            assert response.status_code == 422, (method, route, response.content)
            assert response["Content-Type"] == "application/json"
            locs = [error["loc"] for error in response.json()["detail"]]
            names = next((names for prefix, names in SHARED.items() if route.startswith(prefix)), {name})
            assert len(locs) == 1 and locs[0][0] == "path" and locs[0][1] in names, (method, route, locs)
            answered.add(method)
        assert answered, route


def test_credentials_are_checked_before_the_path(anon, other_api):
    assert anon.get("/traces/not-a-uuid").status_code == 401
    # Another project's key learns nothing either way.
    assert error_locs(other_api.get("/traces/not-a-uuid")) == ["trace_id"]


def test_a_score_id_and_a_trace_id_on_the_same_url_are_named_by_method(api):
    assert api.get("/evaluations/trace-scores/x").json()["detail"][0]["loc"] == ["path", "trace_id"]
    assert api.patch("/evaluations/trace-scores/x", {}, format="json").json()["detail"][0]["loc"] == [
        "path", "score_id",
    ]  # fmt: skip
    assert api.delete("/evaluations/session-scores/a%00b").json()["detail"][0]["loc"] == ["path", "score_id"]
    # A well-formed session id is no score id: that URL names a session, which has no DELETE.
    refused = api.delete("/evaluations/session-scores/x")
    assert refused.status_code == 405 and refused["Allow"] == "GET, HEAD, OPTIONS"
    assert api.get("/evaluations/session-scores/a%00b").json()["detail"][0]["loc"] == ["path", "session_id"]


def test_well_formed_ids_that_name_nothing_are_404s(api, project):
    trace = TraceFactory(project=project, session_id="chat-1")
    SpanFactory(trace=trace)
    for path in [
        f"/traces/{uuid.uuid4()}",
        f"/traces/{trace.pk}/spans/{uuid.uuid4()}",
        "/sessions/no-such-chat",
        f"/evaluations/trace-scores/{uuid.uuid4()}",
        f"/evaluations/score-configs/{uuid.uuid4()}",
        "/evaluations/session-scores/no-such-chat",
    ]:
        method = "patch" if "/spans/" in path else "get"
        response = getattr(api, method)(path, {}, format="json")
        assert (response.status_code, set(response.json())) == (404, {"detail"}), path
    assert api.get(f"/traces/{trace.pk}").status_code == 200  # control
    assert api.get("/sessions/chat-1").status_code == 200


def test_a_nul_in_a_session_id_changes_nothing(api, project):
    TraceFactory(project=project, session_id="a")
    assert error_locs(api.delete("/sessions/a%00b")) == ["session_id"]
    assert Trace.objects.count() == 1


@pytest.fixture
def browser(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize("method, path", [("get", "sessions/a%00b/"), ("post", "sessions/a%00b/score/")])
def test_a_page_for_a_session_id_that_cannot_exist_is_a_404_page(browser, project, method, path):
    TraceFactory(project=project, session_id="a")
    response = getattr(browser, method)(f"/app/p/{project.pk}/{path}")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_the_openapi_document_still_types_path_ids(client):
    document = client.get("/openapi.json").json()
    parameters = {
        p["name"]: p["schema"]
        for p in document["paths"]["/traces/{trace_id}/spans/{span_id}"]["patch"]["parameters"]
    }
    assert parameters["trace_id"] == parameters["span_id"] == {"type": "string", "format": "uuid"}
    session = document["paths"]["/sessions/{session_id}"]["get"]["parameters"]
    assert [p["schema"]["type"] for p in session if p["name"] == "session_id"] == ["string"]
