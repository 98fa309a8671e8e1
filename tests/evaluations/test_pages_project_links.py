"""Links that travel: every page names its project in its path (`/app/p/<project id>/...`).

A member opening a link of another of their projects gets the page and that project becomes
current; anyone else gets the product's 404 page, with DEBUG on too; the old project-less paths
redirect to the current project's page; and every link a page draws carries its project.
"""

import html
import re
import uuid

import pytest

from evaluations.links import page_url, session_page_url
from evaluations.models import EvalRun
from evaluations.selectors.annotations import INLINE_SPAN_BODIES
from evaluations.services.runs import eval_run_create_batch
from pandaprobe.projects.access import SESSION_PROJECT_KEY, ProjectAccess
from pandaprobe.projects.models import Membership
from tests.factories import MembershipFactory, SpanFactory, TraceFactory, TraceScoreFactory

from .queue_factories import build_queue, queue_url, signed_in

pytestmark = pytest.mark.django_db

NOT_FOUND = "This page does not exist, or it belongs to a project you are not a member of."
TECHNICAL = ("DEBUG = True", "Django tried these URL patterns", "technical_404")


@pytest.fixture
def both(reviewer, other_project):
    """The reviewer, also a member of the other project, with `project` current."""
    MembershipFactory(user=reviewer, project=other_project, role=Membership.Role.REVIEWER)
    return reviewer


def assert_product_404(response) -> None:
    content = response.content.decode()
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert NOT_FOUND in content, content[:500]
    assert not any(marker in content for marker in TECHNICAL)


# --- a member's link ------------------------------------------------------------------------------


def test_a_members_link_to_another_of_their_projects_opens_it_and_makes_it_current(
    both, project, other_project
):
    trace = TraceFactory(project=other_project, name="globex-run")
    client = signed_in(both, project)
    response = client.get(page_url("trace-detail", other_project, trace.pk))
    page = response.content.decode()
    assert response.status_code == 200 and "globex-run" in page
    assert client.session[SESSION_PROJECT_KEY] == str(other_project.pk)
    assert f'<option value="{other_project.pk}" selected>' in page  # the switcher follows
    assert f'href="/app/p/{other_project.pk}/traces/"' in page  # so does the navigation
    # And so does everything that reads the current project: an old bookmark, the home page.
    assert client.get("/app/sessions/").url == f"/app/p/{other_project.pk}/sessions/"
    assert client.get("/").url == f"/app/p/{other_project.pk}/traces/"


def test_a_run_pages_poller_does_not_switch_the_project_back(both, project, other_project, judge_stub):
    run = eval_run_create_batch(
        access=ProjectAccess.system(other_project), trace_ids=[TraceFactory(project=other_project).pk],
        metrics=["confidence"],
    )  # fmt: skip
    client = signed_in(both, project)  # switched to acme in another tab, globex's run page still open
    assert client.get(page_url("run-progress", other_project, run.pk)).json()["id"] == str(run.pk)
    assert client.session[SESSION_PROJECT_KEY] == str(project.pk)
    assert client.get(page_url("run-detail", other_project, run.pk)).status_code == 200  # a page does
    assert client.session[SESSION_PROJECT_KEY] == str(other_project.pk)


def test_the_project_home_is_its_trace_list(reviewer, project):
    response = signed_in(reviewer, project).get(f"/app/p/{project.pk}/")
    assert response.status_code == 302 and response.url == f"/app/p/{project.pk}/traces/"


def test_a_superuser_opens_any_projects_link(project, other_project, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "x")
    trace = TraceFactory(project=other_project, name="globex-run")
    response = signed_in(root, project).get(page_url("trace-detail", other_project, trace.pk))
    assert response.status_code == 200 and b"globex-run" in response.content


# --- anyone else: the product's 404 page, whatever DEBUG says ----------------------------------------


@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG off", "DEBUG on"])
def test_a_non_member_gets_the_404_page_and_keeps_their_project(
    settings, debug, outsider, project, other_project
):
    settings.DEBUG = debug
    trace = TraceFactory(project=project, name="acme-secret-run")
    client = signed_in(outsider, other_project)
    for url in (
        page_url("trace-list", project),
        page_url("trace-detail", project, trace.pk),
        session_page_url(project, "s-1"),
        page_url("queue-list", project),
        page_url("run-list", project),
        page_url("analytics-page", project),
        f"/app/p/{project.pk}/",
    ):
        response = client.get(url)
        assert_product_404(response)
        assert b"acme-secret-run" not in response.content
    assert client.session[SESSION_PROJECT_KEY] == str(other_project.pk)
    assert client.get(page_url("trace-list", other_project)).status_code == 200  # the control


@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG off", "DEBUG on"])
@pytest.mark.parametrize(
    "project_id", ["8d3e1b5c-1f0a-4c7e-9a51-2b6f0d4c9e11", "not-a-uuid", "123", "%00", "..%2F"], ids=repr
)
def test_an_unknown_or_malformed_project_is_the_404_page(settings, debug, reviewer, project, project_id):
    settings.DEBUG = debug
    client = signed_in(reviewer, project)
    for suffix in ("", "traces/", f"traces/{uuid.uuid4()}/", "sessions/s-1/", "queues/new/", "analytics/"):
        assert_product_404(client.get(f"/app/p/{project_id}/{suffix}"))
    assert client.session[SESSION_PROJECT_KEY] == str(project.pk)


@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG off", "DEBUG on"])
def test_any_other_path_under_a_project_is_the_404_page(settings, debug, reviewer, project):
    settings.DEBUG = debug
    client = signed_in(reviewer, project)
    for suffix in ("nowhere/", "traces/not-a-uuid/", f"runs/{uuid.uuid4()}/progress/extra", "queues/1/"):
        assert_product_404(client.get(f"/app/p/{project.pk}/{suffix}"))


@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG off", "DEBUG on"])
def test_an_object_of_another_project_under_a_project_url_is_404(
    settings, debug, both, project, other_project, judge_stub
):
    """The reviewer is a member of both projects; the ids are the other project's."""
    settings.DEBUG = debug
    trace = TraceFactory(project=other_project, name="globex-run", session_id="globex-chat")
    score = TraceScoreFactory(trace=trace, author=both)
    queue = build_queue(
        other_project, MembershipFactory(project=other_project, role=Membership.Role.ADMIN).user, [both]
    )
    run = eval_run_create_batch(
        access=ProjectAccess.system(other_project), trace_ids=[trace.pk], metrics=["confidence"]
    )
    client = signed_in(both, project)
    for url in (
        page_url("trace-detail", project, trace.pk),
        session_page_url(project, "globex-chat"),
        page_url("queue-detail", project, queue.pk),
        page_url("queue-work", project, queue.pk),
        page_url("run-detail", project, run.pk),
        page_url("run-progress", project, run.pk),
    ):
        response = client.get(url)
        assert_product_404(response)
        assert b"globex-run" not in response.content
    # An Http404 raised by a view (a score under another trace's URL) is the same page.
    mine = TraceFactory(project=project)
    assert_product_404(client.post(page_url("trace-score-delete", project, mine.pk, score.pk)))
    assert_product_404(client.post(page_url("run-cancel", project, run.pk)))
    assert EvalRun.objects.get(pk=run.pk).status == "PENDING"
    # The controls: under their own project's URL, they open.
    assert client.get(page_url("trace-detail", other_project, trace.pk)).status_code == 200
    assert client.get(queue_url("queue-detail", queue)).status_code == 200


def test_anonymous_users_are_sent_to_sign_in_and_back(client, project):
    trace = TraceFactory(project=project)
    for url in (page_url("trace-detail", project, trace.pk), f"/app/p/{uuid.uuid4()}/traces/", "/app/p/x/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url == f"/app/login/?next={url}"


# --- old bookmarks ------------------------------------------------------------------------------------


def test_old_paths_redirect_to_the_current_projects_page_keeping_the_query(
    both, project, other_project, judge_stub
):
    trace = TraceFactory(project=other_project, session_id="a b/c")
    TraceFactory(project=other_project, session_id="line\nbreak")  # stored before ids were checked
    queue = build_queue(
        other_project, MembershipFactory(project=other_project, role=Membership.Role.ADMIN).user, [both]
    )
    run = eval_run_create_batch(
        access=ProjectAccess.system(other_project), trace_ids=[trace.pk], metrics=["confidence"]
    )
    item = queue.items.first()
    client = signed_in(both, other_project)
    app = f"/app/p/{other_project.pk}"
    moved = {
        "/app/traces/": f"{app}/traces/",
        "/app/traces/?status=ERROR&tags=a&tags=b": f"{app}/traces/?status=ERROR&tags=a&tags=b",
        f"/app/traces/{trace.pk}/?session_id=x#scores": f"{app}/traces/{trace.pk}/?session_id=x",
        "/app/sessions/": f"{app}/sessions/",
        "/app/sessions/a%20b%2Fc/?view=table": f"{app}/sessions/a%20b%2Fc/?view=table",
        "/app/sessions/line%0Abreak/": f"{app}/sessions/line%0Abreak/",
        "/app/queues/": f"{app}/queues/",
        f"/app/queues/{queue.pk}/work/?item={item.pk}": f"{app}/queues/{queue.pk}/work/?item={item.pk}",
        "/app/runs/?status=RUNNING": f"{app}/runs/?status=RUNNING",
        f"/app/runs/{run.pk}/": f"{app}/runs/{run.pk}/",
        f"/app/runs/{run.pk}/progress": f"{app}/runs/{run.pk}/progress",
        "/app/analytics/?range=24h": f"{app}/analytics/?range=24h",
    }
    for old, new in moved.items():
        response = client.get(old)
        assert (response.status_code, response.url) == (302, new), old
        assert client.get(new).status_code == 200, new


def test_an_old_path_that_names_no_page_is_404(settings, reviewer, project):
    settings.DEBUG = True
    client = signed_in(reviewer, project)
    for old in ("/app/traces/not-a-uuid/", "/app/runs/x/", "/app/queues/new/extra/"):
        assert_product_404(client.get(old))


def test_old_paths_send_anonymous_users_to_sign_in(client, project):
    response = client.get("/app/traces/?status=ERROR")
    assert response.status_code == 302 and response.url.startswith("/app/login/?next=")


# --- every link a page draws carries its project --------------------------------------------------


# Paths that belong to no project.
UNSCOPED = ("/app/login/", "/app/logout/", "/app/projects/switch/", "/admin/", "/static/")


def page_links(page: str) -> list[str]:
    links = re.findall(r'(?:href|action|data-url)="([^"]*)"', page)
    return [html.unescape(link) for link in links if link.startswith("/")]


def test_every_link_of_every_page_carries_the_project(admin_user, project, judge_stub):
    trace = TraceFactory(project=project, session_id="chat/1")
    TraceScoreFactory(trace=trace, author=admin_user, source="ANNOTATION")
    for _ in range(INLINE_SPAN_BODIES + 1):  # the last span's body is a link (loaded when opened)
        SpanFactory(trace=trace)
    queue = build_queue(project, admin_user, [admin_user], traces=[trace])
    run = eval_run_create_batch(
        access=ProjectAccess.system(project), trace_ids=[trace.pk], metrics=["confidence"]
    )
    client = signed_in(admin_user, project)
    pages = [
        page_url("trace-list", project),
        # The explorer's workbench: its selection form, and the queue builder from its filter.
        page_url("trace-list", project) + "?score=correctness+%3C+3&range=24h",
        page_url("queue-create", project) + "?score=correctness+%3C+3&range=24h",
        page_url("trace-detail", project, trace.pk),
        page_url("session-list", project),
        session_page_url(project, "chat/1"),
        page_url("queue-list", project),
        page_url("queue-create", project),
        queue_url("queue-detail", queue),
        queue_url("queue-edit", queue),
        queue_url("queue-work", queue),
        page_url("run-list", project),
        page_url("run-create", project),
        page_url("run-detail", project, run.pk),
        page_url("analytics-page", project),
    ]
    pages.append(page_url("trace-span", project, trace.pk, trace.spans.last().span_id))
    prefix = f"/app/p/{project.pk}/"
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        links = page_links(response.content.decode())
        assert links or "/spans/" in url, url
        stray = [link for link in links if link != "/" and not link.startswith((prefix, *UNSCOPED))]
        assert stray == [], (url, stray)
    trace_page = client.get(page_url("trace-detail", project, trace.pk)).content.decode()
    assert f'class="span-load" href="{prefix}traces/{trace.pk}/spans/' in trace_page


def test_redirects_after_a_form_stay_in_the_project(admin_user, project):
    trace = TraceFactory(project=project)
    client = signed_in(admin_user, project)
    response = client.post(
        page_url("trace-score", project, trace.pk), {"kind": "free:NUMERIC", "name": "n", "value": "1"}
    )
    assert response.status_code == 302
    assert response.url == f"/app/p/{project.pk}/traces/{trace.pk}/#scores"
    # The explorer's selection: back to the explorer (its query kept), or on to the run form.
    queue = build_queue(project, admin_user, [admin_user], n_traces=1)
    selection = page_url("trace-selection", project) + "?name=x"
    added = client.post(selection, {"action": "queue", "queue": str(queue.pk), "trace_ids": [str(trace.pk)]})
    assert (added.status_code, added.url) == (302, f"/app/p/{project.pk}/traces/?name=x")
    evaluate = client.post(selection, {"action": "evaluate", "trace_ids": [str(trace.pk)]})
    assert evaluate.status_code == 302
    assert evaluate.url == f"/app/p/{project.pk}/runs/new/?trace_ids={trace.pk}"


# --- the switcher: the same list page of the project switched to -------------------------------------


@pytest.mark.parametrize(
    "page, landing",
    [
        ("traces/", "traces/"),
        ("sessions/", "sessions/"),
        ("queues/", "queues/"),
        ("runs/", "runs/"),
        ("analytics/", "analytics/"),
        ("traces/TRACE/", "traces/"),  # a detail page's id is the old project's
        ("sessions/s-1/", "traces/"),
        ("nowhere/", "traces/"),
    ],
)
def test_switching_lands_on_the_new_projects_list_page(both, project, other_project, page, landing):
    trace = TraceFactory(project=project)
    client = signed_in(both, project)
    next_path = f"/app/p/{project.pk}/{page.replace('TRACE', str(trace.pk))}"
    response = client.post("/app/projects/switch/", {"project": str(other_project.pk), "next": next_path})
    assert response.status_code == 302 and response.url == f"/app/p/{other_project.pk}/{landing}"
    assert client.get(response.url).status_code == 200


def test_the_switcher_sends_the_page_it_is_on(reviewer, project):
    page = signed_in(reviewer, project).get(page_url("queue-list", project)).content.decode()
    assert f'name="next" value="/app/p/{project.pk}/queues/"' in page
