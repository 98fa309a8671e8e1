"""The trace explorer and the trace page: filters, links, badges, rendering, isolation, SQL counts."""

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from evaluations.models import ScoreSource, ScoreStatus
from evaluations.services.scores import trace_score_create, trace_score_update
from pandaprobe.projects.access import ProjectAccess
from tests.factories import SpanFactory, TraceFactory, TraceScoreFactory

from .queue_factories import signed_in

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"


@pytest.fixture
def browser(reviewer, project):
    # Signed in with `project` current: its pages' first visit has no session to update.
    return signed_in(reviewer, project)


def names_in(html: str) -> set[str]:
    return set(
        re.findall(r'data-trace-id="[^"]+">\s*<td[^>]*>.*?</td>\s*<td><a [^>]*>([^<]+)</a>', html, re.S)
    )


def listed(browser, project, query: str = "") -> set[str]:
    response = browser.get(f"/app/p/{project.pk}/traces/{query}")
    assert response.status_code == 200, response.content[:500]
    return names_in(response.content.decode())


# --- explorer -------------------------------------------------------------------------------------


def test_explorer_lists_only_the_current_projects_traces(browser, project, other_project):
    TraceFactory(project=project, name="mine")
    TraceFactory(project=other_project, name="theirs")
    assert listed(browser, project) == {"mine"}


def test_explorer_filters(browser, project):
    now = timezone.now()
    TraceFactory(
        project=project,
        name="alpha",
        status="ERROR",
        session_id="s-1",
        user_id="u-1",
        tags=["red"],
        environment="prod",
        started_at=now - timedelta(days=3),
    )
    TraceFactory(
        project=project,
        name="beta",
        status="COMPLETED",
        session_id="s-2",
        user_id="u-2",
        tags=["blue"],
        environment="dev",
        started_at=now - timedelta(hours=1),
    )
    TraceFactory(project=project, name="gamma", tags=["green"], started_at=now - timedelta(hours=2))  # fmt: skip
    assert listed(browser, project, "?status=ERROR") == {"alpha"}
    assert listed(browser, project, "?name=BET") == {"beta"}
    assert listed(browser, project, "?session_id=s-2") == {"beta"}
    assert listed(browser, project, "?user_id=u-1") == {"alpha"}
    assert listed(browser, project, "?environment=dev") == {"beta"}
    assert listed(browser, project, "?tags=red,+green") == {"alpha", "gamma"}
    after = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert listed(browser, project, f"?started_after={after}") == {"beta", "gamma"}
    assert listed(browser, project, f"?started_before={after}") == {"alpha"}


def test_explorer_has_and_missing_score(browser, project, other_project):
    scored = TraceFactory(project=project, name="scored")
    failed = TraceFactory(project=project, name="failed-only")
    TraceFactory(project=project, name="unscored")
    TraceScoreFactory(trace=scored, name="accuracy")
    TraceScoreFactory(trace=failed, name="accuracy", value=None, status=ScoreStatus.FAILED)
    TraceScoreFactory(trace=failed, name="tone")
    # Another project's score of the same name must not count.
    TraceScoreFactory(trace=TraceFactory(project=other_project), name="accuracy")
    assert listed(browser, project, "?has_score=accuracy") == {"scored"}
    assert listed(browser, project, "?missing_score=accuracy") == {"failed-only", "unscored"}
    assert listed(browser, project, "?has_score=tone&missing_score=accuracy") == {"failed-only"}


def test_explorer_bad_filter_is_a_400_naming_the_field(browser, project):
    response = browser.get(f"/app/p/{project.pk}/traces/?status=BOGUS&started_after=yesterday")
    assert response.status_code == 400
    html = response.content.decode()
    status_field = html[html.index('id="f-status"') : html.index('id="f-session"')]
    assert "errorlist" in status_field
    after_field = html[html.index('id="f-after"') : html.index('id="f-before"')]
    assert "errorlist" in after_field


def test_pagination_and_row_links_keep_the_filters(browser, project):
    for _ in range(55):
        TraceFactory(project=project, environment="prod")
    TraceFactory(project=project, environment="dev")
    html = browser.get(f"/app/p/{project.pk}/traces/?environment=prod").content.decode()
    assert "56" not in re.findall(r"(\d+) traces", html)
    assert "Page 1 of 2" in html
    next_link = re.search(r'rel="next" href="([^"]+)"', html).group(1)
    assert "environment=prod" in next_link and "page=2" in next_link
    row_link = re.search(rf'href="(/app/p/{project.pk}/traces/[0-9a-f-]{{36}}/[^"]*)"', html).group(1)
    assert row_link.endswith("?environment=prod")
    assert next_link.startswith("?")  # relative to the explorer
    page_two = browser.get(f"/app/p/{project.pk}/traces/" + next_link.replace("&amp;", "&")).content.decode()
    assert "Page 2 of 2" in page_two
    assert len(re.findall(r"data-trace-id=", page_two)) == 5
    back = re.search(r'href="([^"]+)">← Traces', browser.get(row_link).content.decode()).group(1)
    assert back == f"/app/p/{project.pk}/traces/?environment=prod"


def test_explorer_shows_the_latest_score_per_name_as_badges(browser, project):
    trace = TraceFactory(project=project, name="t", latency_ms=1500, total_tokens=321, total_cost=0.0123)
    old = TraceScoreFactory(trace=trace, name="accuracy", value="0.1")
    old.created_at = timezone.now() - timedelta(hours=1)
    old.save()
    TraceScoreFactory(trace=trace, name="accuracy", value="0.9")
    TraceScoreFactory(trace=trace, name="helpful", value="true", data_type="BOOLEAN")
    html = browser.get(f"/app/p/{project.pk}/traces/").content.decode()
    assert "accuracy <b>0.9</b>" in html and "0.1</b>" not in html
    assert "helpful <b>true</b>" in html
    assert "1.50 s" in html and "321" in html and "$0.0123" in html


def _query_count(browser, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert browser.get(url).status_code == 200
    return len(queries)


def test_explorer_runs_a_constant_number_of_queries(browser, project):
    def add_traces(count: int) -> None:
        for _ in range(count):
            trace = TraceFactory(project=project, session_id="s")
            TraceScoreFactory(trace=trace, name="accuracy")
            TraceScoreFactory(trace=trace, name="tone", value="0.2")

    add_traces(5)
    few = _query_count(browser, f"/app/p/{project.pk}/traces/?has_score=accuracy")
    add_traces(45)
    many = _query_count(browser, f"/app/p/{project.pk}/traces/?has_score=accuracy")
    assert few == many
    assert many <= 10


# --- trace page -----------------------------------------------------------------------------------


class SpanNesting(HTMLParser):
    """Each `li[data-span-id]`'s parent span id, as the browser would nest them."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.parent: dict[str, str | None] = {}
        self.classes: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "li" and "data-span-id" in attrs:
            span_id = attrs["data-span-id"]
            self.parent[span_id] = self.stack[-1] if self.stack else None
            self.stack.append(span_id)
        elif tag == "li":
            self.stack.append("")
        if tag == "details" and self.stack and "span" in (attrs.get("class") or "").split():
            self.classes[self.stack[-1]] = attrs["class"]

    def handle_endtag(self, tag):
        if tag == "li":
            self.stack.pop()


def test_trace_page_renders_a_conversation_and_pretty_json(browser, project):
    trace = TraceFactory(
        project=project,
        input={"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]},
        output={"answer": 4, "explanation": "two and two " * 10},
        metadata={"customer": "acme-corp"},
    )
    html = browser.get(f"/app/p/{project.pk}/traces/{trace.pk}/").content.decode()
    assert '<div class="message role-system">' in html and '<div class="message role-user">' in html
    assert '<div class="content">2+2?</div>' in html
    assert "<summary>JSON</summary><pre>{\n  &quot;answer&quot;: 4," in html  # long JSON: indented
    assert "<pre>{&quot;customer&quot;: &quot;acme-corp&quot;}</pre>" in html  # short JSON: one line
    assert "&quot;customer&quot;: &quot;acme-corp&quot;" in html


def test_span_tree_is_nested_by_parent(browser, project):
    trace = TraceFactory(project=project)
    start = trace.started_at
    root = SpanFactory(trace=trace, name="agent", kind="AGENT", started_at=start,
                       ended_at=start + timedelta(seconds=2))  # fmt: skip
    tool = SpanFactory(trace=trace, name="search", kind="TOOL", parent_span_id=root.span_id,
                       started_at=start + timedelta(milliseconds=100), ended_at=start + timedelta(seconds=1))  # fmt: skip
    llm = SpanFactory(trace=trace, name="call-llm", parent_span_id=tool.span_id, model="gpt-x",
                      total_tokens=42, started_at=start + timedelta(milliseconds=200),
                      ended_at=start + timedelta(milliseconds=700), status="ERROR", error="rate limited")  # fmt: skip
    sibling = SpanFactory(trace=trace, name="answer", parent_span_id=root.span_id,
                          started_at=start + timedelta(seconds=1))  # fmt: skip
    orphan = SpanFactory(trace=trace, name="late-child", parent_span_id=SpanFactory.build().span_id,
                         started_at=start + timedelta(seconds=3))  # fmt: skip
    html = browser.get(f"/app/p/{project.pk}/traces/{trace.pk}/").content.decode()
    tree = SpanNesting()
    tree.feed(html)
    assert tree.parent == {
        str(root.span_id): None,
        str(tool.span_id): str(root.span_id),
        str(llm.span_id): str(tool.span_id),
        str(sibling.span_id): str(root.span_id),
        str(orphan.span_id): None,
    }
    assert "status-ERROR" in tree.classes[str(llm.span_id)]
    assert '<div class="span-error">rate limited</div>' in html
    assert "gpt-x" in html and "42 tok" in html and "500 ms" in html
    # The bar of the 500 ms LLM call starts 200 ms into the 3 s window.
    assert '<rect x="6.67%" width="16.67%"' in html


def test_span_tree_survives_a_parent_cycle(browser, project):
    trace = TraceFactory(project=project)
    a, b = SpanFactory.build(), SpanFactory.build()
    SpanFactory(trace=trace, span_id=a.span_id, parent_span_id=b.span_id, name="a")
    SpanFactory(trace=trace, span_id=b.span_id, parent_span_id=a.span_id, name="b")
    html = browser.get(f"/app/p/{project.pk}/traces/{trace.pk}/").content.decode()
    tree = SpanNesting()
    tree.feed(html)
    assert set(tree.parent) == {str(a.span_id), str(b.span_id)}


def test_score_panel_shows_latest_scores_with_source_author_and_history(
    browser, project, reviewer, admin_user
):
    trace = TraceFactory(project=project)
    owner = ProjectAccess(project=project, user=admin_user)
    score = trace_score_create(access=owner, trace_id=trace.pk, name="accuracy", value="0.3", reason="meh")
    trace_score_update(access=owner, score=score, changes={"value": "0.8", "reason": "better"})
    TraceScoreFactory(trace=trace, name="judge-says", value="0.6", source=ScoreSource.AUTOMATED)
    html = browser.get(f"/app/p/{project.pk}/traces/{trace.pk}/").content.decode()
    panel = html[html.index('id="scores"') : html.index('id="score-form"')]
    assert 'data-author="owner">' in panel and '<span class="score-value">0.8</span>' in panel
    assert "source-ANNOTATION" in panel and "source-AUTOMATED" in panel and 'data-author="judge">' in panel
    assert "History (2)" in panel
    assert "<b>create</b>\n    0.3" in panel and "0.3 → 0.8" in panel
    assert "“meh” → “better”" in panel


def test_trace_of_another_project_is_404(browser, project, other_project):
    trace = TraceFactory(project=other_project, name="globex-secret-run")
    # Under the reviewer's project, and under its own (the reviewer is no member).
    for url_project in (project, other_project):
        response = browser.get(f"/app/p/{url_project.pk}/traces/{trace.pk}/")
        assert response.status_code == 404
        assert b"globex-secret-run" not in response.content


def test_untrusted_content_is_escaped_everywhere(browser, project, reviewer):
    trace = TraceFactory(
        project=project,
        name=XSS,
        input={"messages": [{"role": XSS, "content": XSS}]},
        output=XSS,
        metadata={"note": XSS},
        tags=[XSS],
        session_id=XSS,
    )
    SpanFactory(trace=trace, name=XSS, input={"q": XSS}, output=[{"role": "user", "content": XSS}],
                metadata={XSS: XSS}, error=XSS, model=XSS)  # fmt: skip
    trace_score_create(access=ProjectAccess(project=project, user=reviewer), trace_id=trace.pk,
                       name=XSS, value="0.5", reason=XSS)  # fmt: skip
    pages = [
        browser.get(f"/app/p/{project.pk}/traces/{trace.pk}/").content.decode(),
        browser.get(f"/app/p/{project.pk}/traces/").content.decode(),
    ]
    for html in pages:
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert pages[0].count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 10
    own_scripts = (
        '<script src="/static/js/app.js" defer></script>',
        '<script src="/static/js/trace.js" defer></script>',
    )
    assert "<script" not in pages[0].replace(own_scripts[0], "").replace(own_scripts[1], "")


def test_trace_page_runs_a_constant_number_of_queries(browser, project, reviewer):
    def build(span_count: int):
        trace = TraceFactory(project=project)
        parent = None
        for index in range(span_count):
            span = SpanFactory(trace=trace, parent_span_id=parent.span_id if parent and index % 3 else None)
            parent = span
        access = ProjectAccess(project=project, user=reviewer)
        for name in ("accuracy", "tone"):
            score = trace_score_create(access=access, trace_id=trace.pk, name=name, value="0.5")
            trace_score_update(access=access, score=score, changes={"value": "0.7"})
        return trace

    small, large = build(5), build(50)
    few = _query_count(browser, f"/app/p/{project.pk}/traces/{small.pk}/")
    many = _query_count(browser, f"/app/p/{project.pk}/traces/{large.pk}/")
    assert few == many
    assert many <= 12
