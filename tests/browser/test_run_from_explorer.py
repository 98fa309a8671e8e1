"""An admin starts an evaluation run from the trace explorer's filter in a real browser, watches its
progress bar reach 100 % without reloading, and reads an automated score's details on the trace page.
The run really executes: the live server enqueues it, an in-process Dramatiq worker scores it with
the stub judge (tests/judge_stub.py) over HTTP."""

import re

import pytest
from django.urls import reverse

from evaluations.models import EvalRun, EvalTarget, TraceScore

from ..factories import TraceFactory

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(page, base_url: str, username: str, next_path: str) -> None:
    page.goto(f"{base_url}{reverse('login')}?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-correct-horse")
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_admin_runs_the_explorers_traces_and_watches_the_progress(
    live_server, page, artifacts, project, admin_user, worker, judge_stub
):
    chosen = [TraceFactory(project=project, name=f"support-{i}", tags=["prod"], input="where is my order",
                           output="it ships today") for i in range(4)]  # fmt: skip
    TraceFactory(project=project, name="support-dev", tags=["dev"])
    judge_stub.latency = 0.7  # about 3 s for the run: the page loads while it works
    base = live_server.url
    page.set_default_timeout(60_000)  # the first preview imports litellm (seconds on a busy machine)

    sign_in(page, base, "owner", f"/app/p/{project.pk}/traces/?tags=prod")
    assert page.locator("tr[data-trace-id]").count() == 4
    page.get_by_role("link", name="Evaluate these traces").click()
    page.wait_for_url(re.compile(rf"/app/p/{project.pk}/runs/new/\?tags=prod$"))
    assert page.get_by_test_id("match-count").inner_text() == "4"

    page.check("input[name=metrics][value=confidence]")
    page.fill("input[name=name]", "From the explorer")
    page.get_by_role("button", name="Preview").click()
    assert "Traces" in page.get_by_test_id("plan").inner_text() and not EvalRun.objects.exists()
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(re.compile(rf"/app/p/{project.pk}/runs/[0-9a-f-]{{36}}/$"))
    run = EvalRun.objects.get()
    assert run.filters == {"tags": ["prod"]} and run.name == "From the explorer"
    assert {t for t in EvalTarget.objects.filter(run=run).values_list("trace_id", flat=True)} == {
        t.pk for t in chosen}  # fmt: skip
    assert page.locator("[data-run-progress][data-finished]").count() == 0  # it loaded unfinished
    page.screenshot(path=str(artifacts / "run-started-from-explorer.png"), full_page=True)

    # The poller moves the bar, with no reload: the same document reaches 100 %.
    page.evaluate("window.__samePage = true")
    # Locator assertions: the page's CSP forbids the eval that `wait_for_function` needs.
    expect = pytest.importorskip("playwright.sync_api").expect
    expect(page.locator("[data-live=percent]")).to_have_text("100", timeout=60_000)
    expect(page.locator("[data-live-bar]")).to_have_js_property("value", 4)
    expect(page.locator("[data-live-status]")).to_have_text("completed")
    assert page.evaluate("window.__samePage") is True
    assert page.locator("[data-live=evaluated_count]").inner_text() == "4"
    assert page.locator("form[action$='/cancel/']").is_hidden()
    page.screenshot(path=str(artifacts / "runs-page.png"), full_page=True)

    score = TraceScore.objects.filter(eval_run=run).first()
    page.goto(f"{base}/app/p/{project.pk}/traces/{score.trace_id}/")
    details = page.locator(f"[data-score-name='{score.name}'] [data-testid=judge-details]")
    assert "stub-judge" in details.inner_text() and "prompt" in details.inner_text()
    details.get_by_role("link").click()
    page.wait_for_url(re.compile(rf"/app/p/{project.pk}/runs/{run.pk}/$"))
