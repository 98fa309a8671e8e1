"""No API path answers HTML, with DEBUG on or off; a body is read whole or refused
(pandaprobe/api/middleware.py)."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from pandaprobe.api.middleware import JsonErrorsMiddleware
from pandaprobe.traces.models import Trace

T0 = "2026-01-01T00:00:00Z"


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/nowhere"),
        ("get", "/traces/"),  # no route ends in a slash
        ("post", "/traces/x/y/z"),
        ("get", "/evaluations/nowhere"),
        ("delete", "/session/a/b"),
        ("get", "/static/nothing-here.js"),
    ],
)
def test_an_unknown_api_path_is_a_json_404(api, debug, method, path):
    response = getattr(api, method)(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


def test_pages_keep_their_html_404(client, admin_user, debug):
    client.force_login(admin_user)
    response = client.get("/app/nowhere/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def _html(status: int):
    return lambda request: HttpResponse("<!DOCTYPE html><title>Django</title>", status=status)


@pytest.mark.parametrize(
    "status, detail",
    [(500, "Internal server error"), (400, "Bad request"), (404, "Not found."), (418, "I'm a Teapot")],
)
def test_an_html_error_django_rendered_itself_becomes_json_outside_the_pages(status, detail):
    # Django's DEBUG pages for a crash or a bad request bypass handler500 and handler400.
    response = JsonErrorsMiddleware(_html(status))(RequestFactory().get("/traces"))
    assert (response.status_code, response["Content-Type"]) == (status, "application/json")
    assert response.content.decode() == f'{{"detail": "{detail}"}}'
    page = JsonErrorsMiddleware(_html(status))(RequestFactory().get("/app/traces/"))
    assert page["Content-Type"].startswith("text/html")


def test_a_chunked_body_is_refused_with_411_not_read_as_empty(api):
    body = f'{{"name": "chunked", "started_at": "{T0}"}}'
    response = api.post("/traces", body, content_type="application/json", HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 411
    assert response["Content-Type"] == "application/json" and "Content-Length" in response.json()["detail"]
    assert not Trace.objects.exists()
    assert api.post("/traces", body, content_type="application/json").status_code == 202  # control
