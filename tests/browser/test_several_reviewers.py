"""Two reviewers and the judge scored one trace: the trace page shows a row for each, a summary line,
and edit/delete buttons only on the signed-in reviewer's own annotation; deleting it in the browser
leaves the others' rows."""

import pytest

from evaluations.models import ScoreConfig, ScoreDataType, ScoreSource, TraceScore
from evaluations.services.scores import trace_score_create

from ..evaluations.queue_factories import access_of, member
from ..factories import TraceFactory, TraceScoreFactory
from .test_run_from_explorer import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_trace_page_with_two_reviewers_and_the_judge(live_server, page, artifacts, project):
    config = ScoreConfig.objects.create(
        project=project, name="correctness", data_type=ScoreDataType.NUMERIC, min_value=0, max_value=5
    )
    trace = TraceFactory(project=project, name="refund-question", input="can I get a refund?", output="yes")
    for username, value in (("alice", "4"), ("bob", "3")):
        access = access_of(member(project, username), project)
        trace_score_create(access=access, trace_id=trace.pk, name="correctness", value=value, config=config,
                           reason=f"{username}'s reading")  # fmt: skip
    TraceScoreFactory(
        trace=trace, name="correctness", value="3.2", source=ScoreSource.AUTOMATED, config=config
    )

    sign_in(page, live_server.url, "alice", f"/app/p/{project.pk}/traces/{trace.pk}/")
    rows = page.locator("#scores li.score-item")
    assert sorted(rows.evaluate_all("els => els.map(e => e.dataset.author)")) == ["alice", "bob", "judge"]
    summary = page.get_by_test_id("score-summary").inner_text()
    assert "mean 3.4" in summary and "spread 3–4" in summary and "agreement 33 %" in summary
    assert page.locator("#scores [data-action]").count() == 2  # alice's edit and delete
    assert page.locator('#scores li[data-author="alice"] [data-action=delete]').is_visible()
    page.locator('li[data-author="bob"] details summary').click()  # bob's history, his alone
    page.screenshot(path=str(artifacts / "several-reviewers.png"), full_page=True)

    with page.expect_navigation():
        page.locator('#scores li[data-author="alice"] [data-action=delete]').click()
    assert sorted(rows.evaluate_all("els => els.map(e => e.dataset.author)")) == ["bob", "judge"]
    assert TraceScore.objects.filter(trace=trace).count() == 2
