"""A link to a page names its project, so it can be shared: a member of that project opens it (and
it becomes their current project, as the switcher shows), anyone else gets the product's 404 page."""

import re

import pytest

from evaluations.links import page_url
from pandaprobe.projects.models import Membership

from ..factories import MembershipFactory, TraceFactory
from .test_run_from_explorer import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shared_trace(other_project):
    """A trace of globex, whose page someone copied into a chat."""
    return TraceFactory(
        project=other_project, name="globex-refund", input="can I get a refund?", output="yes"
    )


def switcher(page) -> tuple[str, str]:
    """The switcher's current project: its id and name."""
    select = page.locator("#switch-project")
    return select.input_value(), select.locator("option:checked").inner_text()


def test_a_members_link_opens_the_page_and_switches_their_project(
    live_server, page, artifacts, project, other_project, shared_trace
):
    member = MembershipFactory(project=project, user__username="dana").user
    MembershipFactory(project=other_project, user=member, role=Membership.Role.REVIEWER)
    TraceFactory(project=project, name="acme-chat")
    base = live_server.url
    sign_in(page, base, "dana", page_url("trace-list", project))
    assert switcher(page) == (str(project.pk), "acme")

    link = f"{base}{page_url('trace-detail', other_project, shared_trace.pk)}"
    response = page.goto(link)
    assert response.status == 200
    assert page.get_by_text("globex-refund").first.is_visible()
    assert switcher(page) == (str(other_project.pk), "globex")
    page.screenshot(path=str(artifacts / "link-switches-project.png"), full_page=True)

    # The rest of the site follows: the navigation lists globex's traces.
    page.get_by_role("link", name="Traces", exact=True).click()
    page.wait_for_url(re.compile(rf"/app/p/{other_project.pk}/traces/$"))
    assert page.locator("tr[data-trace-id]").count() == 1 and page.get_by_text("globex-refund").is_visible()

    # Switching back from a trace page lands on acme's list (the trace id is globex's).
    page.goto(link)
    with page.expect_navigation():
        page.select_option("#switch-project", str(project.pk))
    assert page.url == f"{base}{page_url('trace-list', project)}"
    assert page.get_by_text("acme-chat").is_visible() and switcher(page)[1] == "acme"


def test_a_non_members_link_is_the_404_page(live_server, page, artifacts, project, shared_trace):
    MembershipFactory(project=project, user__username="erin")  # acme only
    base = live_server.url
    sign_in(page, base, "erin", page_url("trace-list", project))

    response = page.goto(f"{base}{page_url('trace-detail', shared_trace.project_id, shared_trace.pk)}")
    assert response.status == 404
    assert page.get_by_role("heading", name="Not found").is_visible()
    assert page.get_by_text("belongs to a project you are not a member of").is_visible()
    assert "globex" not in page.content()  # neither the trace nor the project's name
    assert switcher(page) == (str(project.pk), "acme")  # still in their own project
    page.screenshot(path=str(artifacts / "link-not-member-404.png"), full_page=True)

    page.get_by_role("link", name="Back to traces").click()
    page.wait_for_url(re.compile(rf"/app/p/{project.pk}/traces/$"))
