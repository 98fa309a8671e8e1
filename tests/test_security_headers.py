"""What a browser gets with DEBUG off: HTTPS only (redirect, HSTS, Secure cookies), a
Content-Security-Policy that no page needs to break, and the usual hardening headers, on pages and
API responses alike.

settings.py is evaluated once, so its logic (DEBUG off gives these values) is tested in subprocesses
in test_settings.py; here the resulting settings are applied and the responses checked."""

from html.parser import HTMLParser

import pytest

from evaluations.links import page_url

from .evaluations.queue_factories import build_queue
from .factories import SpanFactory, TraceFactory

PASSWORD = "pw-correct-horse"
HTTPS = {"HTTP_X_FORWARDED_PROTO": "https"}


@pytest.fixture
def production(settings):
    """The values settings.py gives with DEBUG off and SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto,https."""
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


def csp(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in policy.split("; ")}


def assert_hardened(response) -> None:
    assert response["Strict-Transport-Security"] == "max-age=31536000"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    policy = csp(response)
    assert policy["default-src"] == policy["script-src"] == policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["form-action"] == "'self'"
    assert "unsafe" not in response["Content-Security-Policy"]


def test_plain_http_is_redirected_to_https(production, client, db):
    response = client.get("/app/login/?next=/app/traces/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/app/login/?next=/app/traces/"


def test_the_health_check_answers_plain_http(production, client, db):
    # A load balancer probes the web process directly, without the proxy's header.
    assert client.get("/health").status_code == 200


def test_pages_over_https_are_hardened_and_cookies_are_secure(production, client, reviewer, project):
    page = client.get("/app/login/", **HTTPS)
    assert page.status_code == 200
    assert_hardened(page)
    assert page.cookies["csrftoken"]["secure"] is True
    signed_in = client.post("/app/login/", {"username": "reviewer", "password": PASSWORD}, **HTTPS)
    assert signed_in.status_code == 302
    session = signed_in.cookies["sessionid"]
    assert session["secure"] is True and session["httponly"] is True
    assert_hardened(client.get(f"/app/p/{project.pk}/traces/", **HTTPS))


def test_api_responses_over_https_are_hardened(production, api):
    response = api.get("/traces", **HTTPS)
    assert response.status_code == 200
    assert_hardened(response)


def test_development_sends_the_policy_too(settings, client, db):
    settings.DEBUG = True
    response = client.get("/app/login/")
    assert response.status_code == 200 and "Strict-Transport-Security" not in response
    assert csp(response)["script-src"] == "'self'"


class InlineCode(HTMLParser):
    """Collects what the policy would block: inline <script>/<style>, `style=` and `on*=` attributes."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        names = {name for name, _ in attrs}
        if tag == "style" or (tag == "script" and "src" not in names):
            self.found.append(f"<{tag}>")
        self.found += [f"<{tag} {name}=>" for name in names if name == "style" or name.startswith("on")]


@pytest.fixture
def pages(project, admin_user, reviewer) -> list[str]:
    trace = TraceFactory(project=project, session_id="s-1")
    SpanFactory(trace=trace, name="llm", model="gpt-4o")
    queue = build_queue(project, admin_user, [reviewer], traces=[trace], name="Review")
    return [
        page_url("trace-list", project),
        page_url("trace-detail", project, trace.pk),
        page_url("session-list", project),
        page_url("session-detail", project, "s-1"),
        page_url("queue-list", project),
        page_url("queue-create", project),
        page_url("queue-detail", project, queue.pk),
        page_url("queue-work", project, queue.pk),
    ]


def page_html(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_no_page_has_inline_script_or_style(client, admin_user, reviewer, pages):
    # Without chromium (tests/browser/test_csp.py), this still keeps inline code out of the pages.
    html = {"/app/login/": page_html(client, "/app/login/")}
    client.force_login(admin_user)
    html |= {url: page_html(client, url) for url in pages if "/work/" not in url}
    client.force_login(reviewer)
    html |= {url: page_html(client, url) for url in pages if "/work/" in url}
    for url, content in html.items():
        parser = InlineCode()
        parser.feed(content)
        assert parser.found == [], url
    assert "<rect" in html[pages[1]]  # the span bars are drawn without a style attribute
