"""The analytics page in a real browser: its charts are server-rendered SVG (no script, no inline
style, so nothing is blocked by the CSP), the range picker and the metric select drive it."""

from urllib.parse import quote, urlencode

import pytest

from ..analytics.test_page import RANGE, known_data
from .test_csp import RECORD_VIOLATIONS, violations
from .test_run_from_explorer import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_owner_reads_the_charts_and_changes_the_range(live_server, page, artifacts, project, admin_user):
    known_data(project)
    page.context.add_init_script(RECORD_VIOLATIONS)
    sign_in(page, live_server.url, "owner", quote(f"/app/p/{project.pk}/analytics/?{urlencode(RANGE)}"))
    assert page.get_by_role("link", name="Analytics").get_attribute("aria-current") == "page"
    for section in ("summary", "trend", "histogram", "worst-sessions", "volume", "errors", "latency", "cost"):
        assert page.locator(f"#{section}").is_visible(), section
    assert page.locator("svg.chart").count() == 6
    assert page.locator("#volume svg rect.chart-bar").count() == 1
    assert page.locator("[data-testid=confusion] td").all_inner_texts() == ["1", "0", "0", "1"]
    # The bars are coloured by the stylesheet, not by attributes the CSP would have to allow.
    fill = page.locator("#volume rect.chart-bar").evaluate("bar => getComputedStyle(bar).fill")
    assert fill == "rgb(79, 124, 201)"
    # The one bucket's bar is as tall as the plot: no page rule (app.css has a `.bar`) resizes it.
    box = page.locator("#volume rect.chart-bar").bounding_box()
    assert box["height"] > 0.7 * page.locator("#volume svg").bounding_box()["height"]
    assert violations(page) == []
    page.screenshot(path=str(artifacts / "analytics-page.png"), full_page=True)

    page.select_option("select[name=metric]", "zeta")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert "metric=zeta" in page.url and "Trend: zeta" in page.locator("#trend h2").inner_text()

    page.fill("input[name=date_from]", "2026-03-05T00:00")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert "date_to is before date_from." in page.locator(".errorlist").inner_text()
    assert page.locator("svg.chart").count() == 0
