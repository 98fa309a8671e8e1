"""Every kind of page works in a real browser under the Content-Security-Policy: nothing it needs is
blocked (a blocked inline script or style fires `securitypolicyviolation`), and /docs still shows
the operations."""

import pytest
from django.urls import reverse

from evaluations.links import page_url
from pandaprobe.projects import services as project_services

from ..evaluations.queue_factories import build_queue
from ..factories import SpanFactory, TraceFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__csp.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""


@pytest.fixture
def watched(page):
    page.context.add_init_script(RECORD_VIOLATIONS)
    return page


def violations(page) -> list[str]:
    # Reports are queued as tasks: read them a moment after everything has loaded.
    page.wait_for_load_state("load")
    return page.evaluate("() => new Promise((done) => setTimeout(() => done(window.__csp), 200))")


def sign_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}{reverse('login')}")
    assert violations(page) == []
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-correct-horse")
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_the_pages_and_the_admin_run_with_nothing_blocked(live_server, watched, project, admin_user, reviewer):
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    trace = TraceFactory(project=project, session_id="s-1")
    SpanFactory(trace=trace, name="llm-call", model="gpt-4o")
    queue = build_queue(project, admin_user, [reviewer], traces=[trace], name="Review")
    key = project_services.api_key_create(project=project).api_key
    base = live_server.url
    sign_in(watched, base, admin_user.username)
    for path in [
        page_url("trace-list", project),
        page_url("trace-detail", project, trace.pk),
        page_url("session-list", project),
        page_url("session-detail", project, "s-1"),
        page_url("queue-list", project),
        page_url("queue-detail", project, queue.pk),
        "/admin/",
        "/admin/projects/apikey/",
        "/admin/projects/apikey/add/",
        f"/admin/projects/apikey/{key.pk}/change/",
        "/admin/projects/membership/add/",  # autocomplete widgets (select2)
        "/admin/projects/project/add/",  # an inline formset
    ]:
        response = watched.goto(f"{base}{path}")
        assert response.status == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"], path
        assert violations(watched) == [], path
    # The span bar is drawn: SVG geometry needs no inline style.
    watched.goto(f"{base}{page_url('trace-detail', project, trace.pk)}")
    assert watched.locator(".bar rect").first.bounding_box()["width"] > 0


def test_the_queue_work_page_runs_its_script(live_server, watched, project, admin_user, reviewer):
    trace = TraceFactory(project=project)
    queue = build_queue(project, admin_user, [reviewer], traces=[trace], name="Review")
    sign_in(watched, live_server.url, reviewer.username)
    watched.goto(f"{live_server.url}{page_url('queue-work', project, queue.pk)}")
    assert violations(watched) == []
    watched.keyboard.press("?")  # queue.js shows the keys: the external script runs
    assert watched.locator("#keys-help").is_visible()


def test_swagger_ui_renders_the_operations(live_server, watched, db):
    response = watched.goto(f"{live_server.url}/docs")
    assert response.status == 200
    watched.wait_for_selector(".opblock", timeout=15_000)
    assert watched.locator(".opblock").count() > 10
    assert violations(watched) == []


def test_admin_login_page_runs_with_nothing_blocked(live_server, watched, db):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    watched.goto(f"{live_server.url}/admin/login/")
    assert violations(watched) == []
    watched.fill("input[name=username]", "root")
    watched.fill("input[name=password]", "pw-correct-horse")
    with watched.expect_navigation():
        watched.keyboard.press("Enter")
    assert watched.url.endswith("/admin/")
