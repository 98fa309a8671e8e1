"""Sign-in, the project switcher, the 404 page, CSRF and admin access of the annotation pages."""

import pytest
from django.test import Client

from pandaprobe.projects.access import SESSION_PROJECT_KEY
from pandaprobe.projects.models import Membership
from tests.factories import MembershipFactory, ProjectFactory, TraceFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pw-correct-horse"


def test_login_page_signs_in_and_redirects_to_the_explorer(client, reviewer, project):
    page = client.get("/app/login/")
    assert page.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in page.content
    response = client.post("/app/login/", {"username": "reviewer", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").url == f"/app/p/{project.pk}/traces/"
    assert client.get(f"/app/p/{project.pk}/traces/").status_code == 200


def test_login_with_a_wrong_password_shows_an_error_and_stays_signed_out(client, reviewer, project):
    response = client.post("/app/login/", {"username": "reviewer", "password": "nope"})
    assert response.status_code == 200
    assert b"errorlist" in response.content
    assert client.get(f"/app/p/{project.pk}/traces/").status_code == 302


def test_pages_need_a_signed_in_user(client, project):
    trace = TraceFactory(project=project)
    for url in [
        f"/app/p/{project.pk}/traces/",
        f"/app/p/{project.pk}/traces/{trace.pk}/",
        f"/app/p/{project.pk}/sessions/",
        f"/app/p/{project.pk}/sessions/s/",
    ]:
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith("/app/login/?next=")


def test_logout_is_a_post(client, reviewer, project):
    client.force_login(reviewer)
    assert client.get("/app/logout/").status_code == 405
    response = client.post("/app/logout/")
    assert response.status_code == 302
    assert client.get(f"/app/p/{project.pk}/traces/").status_code == 302


def test_top_bar_has_navigation_user_and_a_csrf_protected_logout(client, reviewer, project):
    client.force_login(reviewer)
    html = client.get(f"/app/p/{project.pk}/traces/").content.decode()
    for link in [
        f'href="/app/p/{project.pk}/traces/"',
        f'href="/app/p/{project.pk}/sessions/"',
        f'href="/app/p/{project.pk}/queues/"',
    ]:
        assert link in html
    assert "reviewer" in html
    logout_form = html[html.index('action="/app/logout/"') :]
    assert 'method="post"' in html and "csrfmiddlewaretoken" in logout_form[:400]


def test_switcher_lists_only_the_users_projects(client, reviewer, project, other_project):
    ProjectFactory(name="initech")
    client.force_login(reviewer)
    html = client.get(f"/app/p/{project.pk}/traces/").content.decode()
    assert ">acme</option>" in html
    assert "globex" not in html and "initech" not in html


def test_switching_to_a_member_project_shows_its_traces(client, reviewer, project, other_project):
    MembershipFactory(user=reviewer, project=other_project, role=Membership.Role.REVIEWER)
    TraceFactory(project=project, name="acme-run")
    TraceFactory(project=other_project, name="globex-run")
    client.force_login(reviewer)
    assert b"acme-run" in client.get(f"/app/p/{project.pk}/traces/").content
    response = client.post(
        "/app/projects/switch/", {"project": str(other_project.pk), "next": f"/app/p/{project.pk}/sessions/"}
    )
    # The same list page, of the project switched to.
    assert response.status_code == 302 and response.url == f"/app/p/{other_project.pk}/sessions/"
    assert client.session[SESSION_PROJECT_KEY] == str(other_project.pk)
    assert client.get("/app/traces/").url == f"/app/p/{other_project.pk}/traces/"  # an old bookmark
    html = client.get(f"/app/p/{other_project.pk}/traces/").content.decode()
    assert "globex-run" in html and "acme-run" not in html
    assert f'<option value="{other_project.pk}" selected>' in html


def test_switching_to_a_project_the_user_is_not_in_is_refused(client, reviewer, project, other_project):
    client.force_login(reviewer)
    response = client.post("/app/projects/switch/", {"project": str(other_project.pk)})
    assert response.status_code == 404
    assert SESSION_PROJECT_KEY not in client.session
    assert client.post("/app/projects/switch/", {"project": "not-a-uuid"}).status_code == 404
    assert client.get("/app/projects/switch/").status_code == 405


def test_switch_never_redirects_off_site(client, reviewer, project):
    client.force_login(reviewer)
    response = client.post(
        "/app/projects/switch/", {"project": str(project.pk), "next": "https://evil.example/"}
    )
    assert response.url == f"/app/p/{project.pk}/traces/"


def test_a_session_naming_a_foreign_project_answers_404(client, reviewer, other_project):
    client.force_login(reviewer)
    session = client.session
    session[SESSION_PROJECT_KEY] = str(other_project.pk)
    session.save()
    response = client.get("/app/traces/")  # an old bookmark: the session's project is not theirs
    assert response.status_code == 404
    assert b"<html" in response.content  # the HTML 404 page, not the API's JSON


def test_user_without_projects_gets_404(client, db):
    user = MembershipFactory().user
    Membership.objects.filter(user=user).delete()
    client.force_login(user)
    assert client.get("/").status_code == 404
    assert client.get("/app/traces/").status_code == 404


def test_404_is_html_under_app_and_json_elsewhere(client, reviewer):
    client.force_login(reviewer)
    page = client.get("/app/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
    api = client.get("/no-such-endpoint")
    assert api.status_code == 404 and api.json() == {"detail": "Not found."}


def test_forms_refuse_a_post_without_csrf_token(reviewer, project):
    trace = TraceFactory(project=project)
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)
    response = client.post(
        f"/app/p/{project.pk}/traces/{trace.pk}/score/", {"kind": "free:NUMERIC", "name": "a", "value": "1"}
    )
    assert response.status_code == 403
    assert client.post("/app/projects/switch/", {"project": str(project.pk)}).status_code == 403


def test_reviewer_cannot_reach_the_admin_site(client, reviewer):
    assert reviewer.is_staff is False
    client.force_login(reviewer)
    for url in ["/admin/", "/admin/projects/apikey/", "/admin/evaluations/scoreconfig/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith("/admin/login/")


def test_staff_superuser_reaches_the_score_config_admin(client, project):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    client.force_login(admin)
    assert client.get("/admin/evaluations/scoreconfig/").status_code == 200
    assert client.get("/admin/evaluations/scoreconfig/add/").status_code == 200


def test_500_is_html_under_app_and_json_elsewhere(rf):
    from pandaprobe.views import server_error

    page = server_error(rf.get("/app/traces/"))
    assert page.status_code == 500 and b"Something went wrong" in page.content
    api = server_error(rf.get("/traces"))
    assert api.status_code == 500 and api["Content-Type"] == "application/json"
