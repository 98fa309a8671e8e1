"""The scoring form on the trace page: controls per type, create, edit, validation, isolation."""

import re

import pytest

from evaluations.models import ScoreConfig, ScoreEvent, ScoreSource, TraceScore
from evaluations.services.scores import trace_score_create
from pandaprobe.projects.access import ProjectAccess
from tests.factories import TraceFactory, TraceScoreFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client, reviewer):
    client.force_login(reviewer)
    return client


@pytest.fixture
def trace(project):
    return TraceFactory(project=project)


def config(project, name, data_type, **kwargs) -> ScoreConfig:
    return ScoreConfig.objects.create(project=project, name=name, data_type=data_type, **kwargs)


def score_form(html: str) -> str:
    return html[html.index('class="score-form"') :]


def post_score(browser, trace, query: str = "", **data):
    return browser.post(f"/app/p/{trace.project_id}/traces/{trace.pk}/score/{query}", data)


def test_free_numeric_score_is_created_as_the_users_annotation(browser, trace, reviewer):
    response = post_score(
        browser,
        trace,
        "?status=ERROR&page=2",
        kind="free:NUMERIC",
        name=" accuracy ",
        value="0.75",
        reason="ok",
    )
    assert response.status_code == 302
    assert response.url == f"/app/p/{trace.project_id}/traces/{trace.pk}/?status=ERROR&page=2#scores"
    score = TraceScore.objects.get()
    assert (score.name, score.value, score.numeric_value) == ("accuracy", "0.75", 0.75)
    assert (score.source, score.author, score.reason, score.data_type) == (
        "ANNOTATION",
        reviewer,
        "ok",
        "NUMERIC",
    )
    event = ScoreEvent.objects.get()
    assert (event.action, event.actor_user, event.new_value) == ("create", reviewer, "0.75")
    page = browser.get(response.url).content.decode()
    assert "Saved accuracy = 0.75" in page


def test_control_fits_the_config_type(browser, trace, project):
    numeric = config(project, "quality", "NUMERIC", min_value=1, max_value=5)
    boolean = config(project, "helpful", "BOOLEAN")
    labels = config(project, "verdict", "CATEGORICAL", categories=["PASS", "FAIL"])
    url = f"/app/p/{project.pk}/traces/{trace.pk}/"
    html = score_form(browser.get(f"{url}?score_with=config:{numeric.pk}").content.decode())
    assert re.search(r'<input type="number" name="value" id="id_value" step="any" min="1" max="5"', html)
    assert 'type="range"' in html and 'name="name"' not in html
    html = score_form(browser.get(f"{url}?score_with=config:{boolean.pk}").content.decode())
    assert '<input type="radio" name="value" value="true">' in html
    assert '<input type="radio" name="value" value="false">' in html
    html = score_form(browser.get(f"{url}?score_with=config:{labels.pk}").content.decode())
    assert 'value="PASS"' in html and 'value="FAIL"' in html and 'type="number"' not in html
    # The default kind is the first config; a free name asks for the name and its type's control.
    html = browser.get(url).content.decode()
    assert f'<option value="config:{boolean.pk}" selected>' in html
    html = score_form(browser.get(f"{url}?score_with=free:NUMERIC").content.decode())
    assert 'name="name"' in html and 'min="0" max="1"' in html


def test_kind_picker_works_without_js_and_keeps_the_page_query(browser, trace, project):
    config(project, "helpful", "BOOLEAN")
    html = browser.get(f"/app/p/{project.pk}/traces/{trace.pk}/?status=ERROR").content.decode()
    picker = html[html.index('class="pick-kind') : html.index('class="score-form"')]
    assert 'method="get"' in html[html.index("<form", html.index('id="score-form"')) :][:80]
    assert '<input type="hidden" name="status" value="ERROR">' in picker
    assert 'name="score_with"' in picker and 'type="submit"' in picker


def test_boolean_config_score_passes_the_config(browser, trace, project):
    helpful = config(project, "helpful", "BOOLEAN")
    response = post_score(browser, trace, kind=f"config:{helpful.pk}", value="true")
    assert response.status_code == 302
    score = TraceScore.objects.get()
    assert (score.name, score.value, score.numeric_value, score.config) == ("helpful", "true", 1.0, helpful)


def test_invalid_value_is_shown_beside_the_field_and_nothing_is_saved(browser, trace, project):
    verdict = config(project, "verdict", "CATEGORICAL", categories=["PASS", "FAIL"])
    response = post_score(browser, trace, kind=f"config:{verdict.pk}", value="MAYBE", reason="unsure")
    assert response.status_code == 422
    form = score_form(response.content.decode())
    value_field = form[form.index('data-type="CATEGORICAL"') : form.index('for="id_reason"')]
    assert "errorlist" in value_field and "MAYBE" in value_field and "not one of PASS, FAIL" in value_field
    assert ">unsure</textarea>" in form  # what the reviewer typed is kept
    assert TraceScore.objects.count() == 0 and ScoreEvent.objects.count() == 0


def test_numeric_out_of_the_config_range_is_refused(browser, trace, project):
    quality = config(project, "quality", "NUMERIC", min_value=1, max_value=5)
    response = post_score(browser, trace, kind=f"config:{quality.pk}", value="7")
    assert response.status_code == 422
    assert "outside the allowed range" in score_form(response.content.decode())
    assert post_score(browser, trace, kind=f"config:{quality.pk}", value="4").status_code == 302
    assert TraceScore.objects.get().value == "4"


def test_missing_name_and_value_are_shown_beside_their_fields(browser, trace):
    response = post_score(browser, trace, kind="free:NUMERIC", name="", value="")
    assert response.status_code == 422
    form = score_form(response.content.decode())
    name_field = form[form.index('for="id_name"') : form.index('data-type="NUMERIC"')]
    assert "Give the score a name." in name_field
    assert "Give a value." in form[form.index('data-type="NUMERIC"') :]
    assert TraceScore.objects.count() == 0


def test_unknown_or_archived_config_is_refused(browser, trace, project, other_project):
    archived = config(project, "old", "NUMERIC", is_archived=True)
    foreign = config(other_project, "theirs", "NUMERIC")
    for kind in (f"config:{archived.pk}", f"config:{foreign.pk}", "free:BOGUS"):
        response = post_score(browser, trace, kind=kind, value="0.5", name="x")
        assert response.status_code == 422
        assert "Select a valid choice" in response.content.decode()
    assert TraceScore.objects.count() == 0


def test_saving_again_edits_the_users_own_score_with_patch_semantics(browser, trace, reviewer):
    post_score(browser, trace, kind="free:NUMERIC", name="accuracy", value="0.4", reason="first look")
    post_score(browser, trace, kind="free:NUMERIC", name="accuracy", value="0.9", reason="")
    score = TraceScore.objects.get()
    assert (score.value, score.reason) == ("0.9", "first look")  # empty box: reason unchanged
    post_score(
        browser, trace, kind="free:NUMERIC", name="accuracy", value="0.8", reason="", reason_shown="True"
    )
    score.refresh_from_db()
    assert (score.value, score.reason) == ("0.8", None)  # the shown reason was emptied: cleared
    actions = list(ScoreEvent.objects.order_by("id").values_list("action", "old_value", "new_value"))
    assert actions == [("create", None, "0.4"), ("update", "0.4", "0.9"), ("update", "0.9", "0.8")]


def test_form_is_prefilled_when_saving_would_edit(browser, trace, project, reviewer):
    helpful = config(project, "helpful", "CATEGORICAL", categories=["yes", "no"])
    post_score(browser, trace, kind=f"config:{helpful.pk}", value="no", reason="rude")
    form = score_form(browser.get(f"/app/p/{project.pk}/traces/{trace.pk}/").content.decode())
    assert '<input type="radio" name="value" value="no" checked>' in form
    assert ">rude</textarea>" in form and "Update score" in form
    assert 'name="reason_shown" value="True"' in form


def test_another_users_or_the_judges_score_is_never_overwritten(
    browser, trace, project, admin_user, reviewer
):
    trace_score_create(access=ProjectAccess(project=project, user=admin_user), trace_id=trace.pk,
                       name="accuracy", value="0.2")  # fmt: skip
    TraceScoreFactory(trace=trace, name="judge", value="0.3", source=ScoreSource.AUTOMATED)
    post_score(browser, trace, kind="free:NUMERIC", name="accuracy", value="0.6")
    post_score(browser, trace, kind="free:NUMERIC", name="judge", value="0.7")
    assert TraceScore.objects.filter(author=reviewer).count() == 2
    assert set(TraceScore.objects.filter(author=admin_user).values_list("value", flat=True)) == {"0.2"}
    assert TraceScore.objects.get(source=ScoreSource.AUTOMATED).value == "0.3"


def test_scoring_another_projects_trace_is_404_and_saves_nothing(browser, other_project):
    foreign = TraceFactory(project=other_project)
    response = post_score(browser, foreign, kind="free:NUMERIC", name="accuracy", value="0.5")
    assert response.status_code == 404
    response = post_score(browser, foreign, kind="free:NUMERIC", name="", value="")
    assert response.status_code == 404
    assert TraceScore.objects.count() == 0
