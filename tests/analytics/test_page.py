"""The analytics page (/app/p/<project>/analytics/): every section from known data, the range
picker, a bad range, isolation between projects, and who may read it."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from analytics.charts import bar_chart, line_chart
from tests.factories import TraceFactory, UserFactory

from .test_score_analytics import score, session_score

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
RANGE = {"date_from": "2026-03-01T00:00", "date_to": "2026-03-04T00:00"}


def known_data(project) -> None:
    """Two traces on 2026-03-02 (one an error, costing 0.25 and 0.5), judged and reviewed on
    `accuracy`; two scored sessions."""
    reviewer = UserFactory(username="rita")
    first = TraceFactory(project=project, started_at=T0, total_cost=0.25, session_id="s-good")
    second = TraceFactory(project=project, started_at=T0 + timedelta(hours=1), total_cost=0.5,
                          status="ERROR", session_id="s-bad")  # fmt: skip
    for trace, judge, human in ((first, 0.2, 0.1), (second, 0.8, 0.9)):
        score(trace, value=judge, source="AUTOMATED", at=T0)
        score(trace, value=human, source="ANNOTATION", author=reviewer, at=T0 + timedelta(minutes=5))
    score(first, "zeta", 0.7, at=T0)
    session_score(project, "s-good", 0.9, at=T0)
    session_score(project, "s-bad", 0.1, at=T0)


@pytest.fixture
def data(project):
    known_data(project)


@pytest.fixture
def theirs(other_project):
    trace = TraceFactory(project=other_project, started_at=T0, session_id="their-session")
    score(trace, "globex-metric", 0.3, at=T0)
    session_score(other_project, "their-session", 0.0, at=T0)


def page_of(project) -> str:
    return f"/app/p/{project.pk}/analytics/"


@pytest.fixture
def url(project) -> str:
    return page_of(project)


@pytest.fixture
def owner(client, admin_user) -> Client:
    client.force_login(admin_user)
    return client


def test_every_section_shows_the_known_data(url, owner, data):
    response = owner.get(url, RANGE)
    assert response.status_code == 200
    html = response.content.decode()
    page = response.context
    # Summary: the first metric by name is the default; judge and reviewer scores both count.
    summary = {row["metric_name"]: row for row in page["data"].summary}
    assert page["data"].metric == "accuracy" and set(summary) == {"accuracy", "zeta"}
    assert summary["accuracy"]["success_count"] == 4 and summary["accuracy"]["avg_score"] == pytest.approx(
        0.5
    )
    assert '<tr data-metric="accuracy"><td>accuracy</td>\n      <td class="num">0.500</td>' in html
    # Trend: one daily bucket averaging the four scores; histogram: ten buckets of 0-1, [low, high).
    assert "<title>2026-03-02: 0.5</title>" in html
    assert [row["count"] for row in page["data"].distribution] == [0, 1, 1, 0, 0, 0, 0, 0, 1, 1]
    # Worst sessions: lowest first.
    assert html.index('data-session-id="s-bad"') < html.index('data-session-id="s-good"')
    # Operations: 2 traces, 1 error, 0.75 of cost in the day's bucket.
    assert "<title>2026-03-02: 2</title>" in html and "<title>2026-03-02: 1</title>" in html
    assert "<title>2026-03-02: 0.75</title>" in html
    # Agreement at 0.5: both agree on both traces (one pass, one fail).
    assert page["data"].agreement["judge_vs_human"]["confusion"] == {
        "pass_pass": 1, "pass_fail": 0, "fail_pass": 0, "fail_fail": 1}  # fmt: skip
    assert 'data-testid="confusion"' in html and "<td>rita</td>" in html


def test_the_metric_select_drives_trend_histogram_and_agreement(url, owner, data):
    response = owner.get(url, {**RANGE, "metric": "zeta"})
    assert response.status_code == 200
    assert response.context["data"].metric == "zeta"
    assert [row["count"] for row in response.context["data"].distribution][7] == 1
    assert response.context["data"].agreement["judge_vs_human"]["pair_count"] == 0
    assert '<option value="zeta" selected>' in response.content.decode()


def test_a_preset_sets_the_window(url, owner, data):
    # The data are from March 2026 and the test runs later: the last 24 h hold none of it.
    response = owner.get(url, {"range": "24h"})
    assert response.status_code == 200
    window = response.context["window"]
    assert window.end - window.start == timedelta(hours=24) and window.granularity == "hour"
    assert response.context["data"].summary == []
    assert "No trace scores in this range." in response.content.decode()
    assert owner.get(url, {"range": "90d", "date_from": RANGE["date_from"]}).context["data"].summary


@pytest.mark.parametrize(
    "params, field",
    [
        ({"date_from": "2026-03-04T00:00", "date_to": "2026-03-01T00:00"}, "date_to"),
        ({"date_from": "2026-03-04T00:00", "date_to": "2026-03-04T00:00"}, "date_to"),
        ({"date_from": "not a date"}, "date_from"),
        ({"range": "1y"}, "range"),
    ],
)
def test_a_bad_range_is_400_naming_the_field(url, owner, data, params, field):
    response = owner.get(url, params)
    assert response.status_code == 400
    assert field in response.context["errors"]
    assert "data" not in response.context
    assert 'class="errorlist"' in response.content.decode()


def test_another_projects_data_is_absent(url, owner, outsider, other_project, data, theirs):
    mine = owner.get(url, RANGE).content.decode()
    assert "globex-metric" not in mine and "their-session" not in mine
    # The control: the other project's member sees them on that project's page.
    theirs_client = Client()
    theirs_client.force_login(outsider)
    response = theirs_client.get(page_of(other_project), RANGE)
    assert theirs_client.get(url, RANGE).status_code == 404  # not a member of this one
    assert response.status_code == 200
    html = response.content.decode()
    assert "globex-metric" in html and "their-session" in html and "s-bad" not in html


def test_login_is_required(url, client, data):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/app/login/")


def test_a_reviewer_may_read_it(url, client, reviewer, data):
    client.force_login(reviewer)
    response = client.get(url, RANGE)
    assert response.status_code == 200 and response.context["data"].metric == "accuracy"


def test_the_nav_links_the_page(url, owner, data):
    html = owner.get(url, RANGE).content.decode()
    assert f'<a href="{url}" aria-current="page">Analytics</a>' in html


# Charts ---------------------------------------------------------------------------------------------


def test_chart_text_is_escaped_and_has_no_style_attribute():
    svg = bar_chart([("<script>x</script>", 2.0), ("b", 1.0)], title='a "title"')
    assert "<script>" not in svg and "&lt;script&gt;x&lt;/script&gt;: 2" in svg
    assert "style=" not in svg and 'aria-label="a &quot;title&quot;"' in svg
    assert "style=" not in line_chart([("a", 1.0), ("b", 3.0)], [("a", 2.0), ("b", 0.5)], title="t")


def test_bars_and_lines_scale_to_the_largest_value():
    svg = bar_chart([("a", 1.0), ("b", 2.0)], title="t")
    # The tallest bar fills the plot's height (200 - 12 top - 24 bottom), the other half of it.
    assert 'height="164.0"' in svg and 'height="82.0"' in svg
    line = line_chart([("a", 0.0), ("b", 4.0)], title="t")
    assert 'points="48.0,176.0 592.0,12.0"' in line


def test_an_empty_chart_says_so():
    assert "no data in this range" in bar_chart([], title="Volume")
    assert "no data in this range" in line_chart([], title="Trend")
