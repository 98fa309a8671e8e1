"""The read-only trace-score admin shows each score's edit history."""

import pytest

from ..factories import TraceFactory, UserFactory

URL = "/evaluations/trace-scores"


@pytest.fixture
def superuser_client(db, client):
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def test_change_page_shows_the_history_and_cannot_edit(superuser_client, api, project):
    trace = TraceFactory(project=project)
    score_id = api.post(
        URL, {"trace_id": str(trace.pk), "name": "acc", "value": "0.2"}, format="json"
    ).json()["id"]
    api.patch(f"{URL}/{score_id}", {"value": "0.7", "reason": "<b>checked</b>"}, format="json")
    page = superuser_client.get(f"/admin/evaluations/tracescore/{score_id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Edit history" in html and "0.2 → 0.7" in html and "api-key:" in html
    assert "&lt;b&gt;checked&lt;/b&gt;" in html  # escaped
    assert 'type="submit" value="Save"' not in html
    listing = superuser_client.get("/admin/evaluations/tracescore/")
    assert listing.status_code == 200 and "acc" in listing.content.decode()
    assert superuser_client.get("/admin/evaluations/tracescore/add/").status_code == 403
    for query in ("acc", "not-a-uuid", score_id):
        found = superuser_client.get("/admin/evaluations/tracescore/", {"q": query})
        assert found.status_code == 200 and ("0.7" in found.content.decode()) == (query != "not-a-uuid")
