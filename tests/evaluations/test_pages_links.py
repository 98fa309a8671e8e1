"""Every link in the pages is built from URL-encoded segments: no session id can break a page or
point elsewhere, and an id holding "/" (even one ending in "/score") has its own working page."""

import html
import posixpath
import re

import pytest

from evaluations.models import ScoreConfig, SessionScore
from tests.factories import TraceFactory

pytestmark = pytest.mark.django_db

# Ids a client may send (ingestion keeps them), and one from before ingestion refused newlines.
NASTY_IDS = ["../../admin", "x/score", "a b?c=d#e", "100%25", "\"'><script>", "..%2F", "/lead", "trail/"]
LEGACY_ID = "line\nbreak"


@pytest.fixture
def browser(client, reviewer):
    client.force_login(reviewer)
    return client


def links(page: str) -> list[str]:
    return [html.unescape(link) for link in re.findall(r'(?:href|action)="([^"]*)"', page)]


def assert_links_stay_put(page: str) -> None:
    """Every link of the page is one a browser follows as written: printable, no dot segments."""
    for link in links(page):
        path = link.split("#")[0].split("?")[0]
        assert re.fullmatch(r"[!-~]*", link), link  # printable ASCII: everything else is encoded
        if path.startswith("/") and len(path) > 1:
            normalized = posixpath.normpath(path) + ("/" if path.endswith("/") else "")
            assert normalized == path, link


def session_link(page: str, session_id: str) -> str:
    """The href of the link whose text is the session id."""
    text = html.escape(session_id)
    found = re.search(rf'<a href="([^"]+)">{re.escape(text)}</a>', page)
    assert found, f"no link to {session_id!r}"
    return html.unescape(found.group(1))


@pytest.mark.parametrize("session_id", [*NASTY_IDS, LEGACY_ID], ids=repr)
def test_every_page_with_the_session_links_to_its_own_page(browser, project, session_id):
    trace = TraceFactory(project=project, session_id=session_id)
    TraceFactory(project=project, session_id="x")  # "x/score" must not be read as x's score form

    app = f"/app/p/{project.pk}"
    for url in [f"{app}/traces/", f"{app}/sessions/", f"{app}/traces/{trace.pk}/"]:
        response = browser.get(url)
        page = response.content.decode()
        assert response.status_code == 200, url
        assert_links_stay_put(page)
        if url != f"{app}/sessions/":  # the list truncates long ids in the link text
            target = session_link(page, session_id)
            assert target.startswith(f"{app}/sessions/") and target.count("/") == 6, target

    session_page = browser.get(target)
    assert session_page.status_code == 200
    assert f'<span class="mono">{html.escape(session_id)}</span>' in session_page.content.decode()
    assert_links_stay_put(session_page.content.decode())


def test_a_traversal_id_is_one_encoded_segment(browser, project):
    TraceFactory(project=project, session_id="../../admin")
    page = browser.get(f"/app/p/{project.pk}/traces/").content.decode()
    assert session_link(page, "../../admin") == f"/app/p/{project.pk}/sessions/..%2F..%2Fadmin/"


def test_a_session_id_ending_in_score_is_scored_on_its_own_page(browser, project):
    TraceFactory(project=project, session_id="x")
    TraceFactory(project=project, session_id="x/score")
    config = ScoreConfig.objects.create(project=project, name="reliable", data_type="BOOLEAN")
    page_url = f"/app/p/{project.pk}/sessions/x%2Fscore/"

    page = browser.get(page_url).content.decode()
    assert f'action="{page_url}"' in page  # the scoring form posts to the page itself

    response = browser.post(page_url, {"kind": f"config:{config.pk}", "value": "true"})
    assert response.status_code == 302 and response.url == f"{page_url}#scores"
    assert list(SessionScore.objects.values_list("session_id", "value")) == [("x/score", "true")]
    assert 'data-score-name="reliable"' in browser.get(page_url).content.decode()
    other_page = browser.get(f"/app/p/{project.pk}/sessions/x/").content.decode()
    assert 'data-score-name="reliable"' not in other_page


def test_scoring_keeps_the_page_query_and_encodes_the_redirect(browser, project):
    TraceFactory(project=project, session_id="a b/c")
    url = f"/app/p/{project.pk}/sessions/a%20b%2Fc/?page=1"
    response = browser.post(url, {"kind": "free:NUMERIC", "name": "n", "value": "1"})
    assert response.status_code == 302 and response.url == f"{url}#scores"
    assert SessionScore.objects.get().session_id == "a b/c"
