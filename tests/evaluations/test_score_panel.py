"""The score panel of the trace and session pages follows the role table: a deleted score's history
(its events, its reason) only for who may read it, the scoring form only for who may annotate."""

import pytest

from evaluations.services.annotations import own_annotation
from evaluations.services.scores import score_change_allowed, score_delete, score_update, trace_score_create
from evaluations.services.session_scores import session_score_create
from pandaprobe.projects.access import ROLE_ACTIONS, Action, Actor, ProjectAccess
from pandaprobe.projects.models import Membership
from tests.factories import TraceFactory

pytestmark = pytest.mark.django_db

SESSION = "chat-1"
SECRET = "deleted because it named the customer"


@pytest.fixture
def pages(project, admin_user, reviewer) -> dict[str, str]:
    """A trace and its session, each with a deleted score (same name as a live one, and a name of its
    own) and a live score that was edited; the page URLs by kind."""
    trace = TraceFactory(project=project, session_id=SESSION)
    as_admin = ProjectAccess(project=project, user=admin_user, role=Membership.Role.ADMIN)
    for create, subject in ((trace_score_create, {"trace_id": trace.pk}), (session_score_create, {"session_id": SESSION})):  # fmt: skip
        for name in ("accuracy", "pii"):
            gone = create(access=as_admin, name=name, value="0.1", reason=SECRET, **subject)
            score_delete(access=as_admin, score=gone)
        live = create(access=as_admin, name="accuracy", value="0.3", reason="first look", **subject)
        score_update(access=as_admin, score=live, changes={"value": "0.8"})
    app = f"/app/p/{project.pk}"
    return {"trace": f"{app}/traces/{trace.pk}/", "session": f"{app}/sessions/{SESSION}/"}


def _panel(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    return html[html.index('id="scores"') : html.index("</aside>")]


@pytest.mark.parametrize("page", ["trace", "session"])
def test_a_reviewer_sees_no_deleted_score_history(client, reviewer, pages, page):
    client.force_login(reviewer)
    panel = _panel(client, pages[page])
    assert SECRET not in panel and "Deleted scores" not in panel and "pii" not in panel
    assert "History (2)" in panel and "0.3 → 0.8" in panel  # the live score's own history stays


@pytest.mark.parametrize("page", ["trace", "session"])
def test_an_admin_sees_deleted_score_history(client, admin_user, pages, page):
    client.force_login(admin_user)
    panel = _panel(client, pages[page])
    # History stays per score: the deleted "accuracy" is listed apart from the live one.
    assert "Deleted scores (2)" in panel and "<h3>pii</h3>" in panel and "<h3>accuracy</h3>" in panel
    assert "History (2)" in panel and "History (4)" not in panel
    assert panel.count(SECRET) == 2


@pytest.mark.parametrize("page", ["trace", "session"])
def test_the_panel_rule_comes_from_the_role_table(client, reviewer, pages, page, monkeypatch):
    reviewer_actions = ROLE_ACTIONS[Actor.REVIEWER]
    monkeypatch.setitem(ROLE_ACTIONS, Actor.REVIEWER, reviewer_actions | {Action.SCORE_HISTORY_DELETED})
    client.force_login(reviewer)
    assert SECRET in _panel(client, pages[page])

    monkeypatch.setitem(ROLE_ACTIONS, Actor.REVIEWER, reviewer_actions - {Action.SCORE_ANNOTATE})
    panel = _panel(client, pages[page])
    assert 'id="score-form"' not in panel and "csrfmiddlewaretoken" not in panel


def test_an_edit_is_offered_only_where_the_service_would_allow_it(client, project, reviewer, monkeypatch):
    trace = TraceFactory(project=project)
    config = project.score_configs.create(name="quality", data_type="NUMERIC")
    as_reviewer = ProjectAccess(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    score = trace_score_create(access=as_reviewer, trace_id=trace.pk, name="quality", value="0.4", config=config)
    client.force_login(reviewer)
    assert "saving edits your score" in _panel(client, f"/app/p/{project.pk}/traces/{trace.pk}/")
    mine = {"access": as_reviewer, "name": "quality", "data_type": "NUMERIC", "config": config}
    assert own_annotation([score], **mine) == score

    # Without the right to annotate, one's own annotation can no longer be changed: never offered.
    monkeypatch.setitem(ROLE_ACTIONS, Actor.REVIEWER, frozenset({Action.READ}))
    assert not score_change_allowed(as_reviewer, score)
    assert own_annotation([score], **mine) is None
