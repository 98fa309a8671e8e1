"""Score-config API (CRUD, roles, validation, isolation) and its admin form."""

import pytest

from evaluations.admin import ScoreConfigAdminForm
from evaluations.models import ScoreConfig
from tests.errors import error_locs, rule_fields
from tests.factories import TraceFactory

pytestmark = pytest.mark.django_db

URL = "/evaluations/score-configs"
FIELDS = {
    "id", "project_id", "name", "data_type", "min_value", "max_value", "step", "categories", "description",
    "is_archived", "created_at", "updated_at",
}  # fmt: skip


def create(api, **body):
    return api.post(URL, body, format="json")


def test_create_get_list_patch_delete(api, project):
    response = create(
        api, name="quality", data_type="NUMERIC", min_value=1, max_value=5, description="1-5 stars"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == FIELDS
    assert body["project_id"] == str(project.pk)
    assert (body["name"], body["min_value"], body["max_value"], body["categories"]) == (
        "quality",
        1.0,
        5.0,
        [],
    )
    config_id = body["id"]
    assert api.get(f"{URL}/{config_id}").json() == body

    create(api, name="verdict", data_type="CATEGORICAL", categories=["PASS", "FAIL"])
    page = api.get(URL).json()
    assert (page["total"], page["limit"], page["offset"]) == (2, 50, 0)
    assert [c["name"] for c in page["items"]] == ["quality", "verdict"]
    assert [c["name"] for c in api.get(URL, {"data_type": "CATEGORICAL"}).json()["items"]] == ["verdict"]

    patched = api.patch(f"{URL}/{config_id}", {"max_value": 10, "is_archived": True}, format="json")
    assert patched.status_code == 200
    assert (patched.json()["min_value"], patched.json()["max_value"], patched.json()["is_archived"]) == (
        1,
        10,
        True,
    )
    assert [c["name"] for c in api.get(URL, {"is_archived": "false"}).json()["items"]] == ["verdict"]

    assert api.delete(f"{URL}/{config_id}").status_code == 204
    assert api.get(f"{URL}/{config_id}").status_code == 404
    assert not ScoreConfig.objects.filter(pk=config_id).exists()


def test_reviewers_read_admins_write(bearer_client, reviewer, admin_user, project):
    as_reviewer = bearer_client(reviewer, project)
    as_admin = bearer_client(admin_user, project)
    created = as_admin.post(URL, {"name": "helpful", "data_type": "BOOLEAN"}, format="json")
    assert created.status_code == 201
    config_id = created.json()["id"]
    assert as_reviewer.get(URL).status_code == 200
    assert as_reviewer.get(f"{URL}/{config_id}").status_code == 200
    assert as_reviewer.post(URL, {"name": "x", "data_type": "BOOLEAN"}, format="json").status_code == 403
    assert as_reviewer.patch(f"{URL}/{config_id}", {"name": "y"}, format="json").status_code == 403
    assert as_reviewer.delete(f"{URL}/{config_id}").status_code == 403
    assert ScoreConfig.objects.get().name == "helpful"


def test_signed_in_reviewer_session_reads_but_cannot_write(client, reviewer, project):
    client.force_login(reviewer)
    client.post("/app/projects/switch/", {"project": str(project.pk)})  # the browser's current project
    assert client.get(URL).status_code == 200
    response = client.post(URL, {"name": "x"}, content_type="application/json")
    assert response.status_code == 403


def test_anonymous_is_refused(anon, project):
    assert anon.get(URL).status_code in (401, 403)


def test_name_is_unique_per_project(api, other_api):
    assert create(api, name="tone", data_type="BOOLEAN").status_code == 201
    duplicate = create(api, name="tone", data_type="NUMERIC")
    assert duplicate.status_code == 409 and "tone" in duplicate.json()["detail"]
    assert create(other_api, name="tone", data_type="BOOLEAN").status_code == 201  # another project
    other = create(api, name="mood", data_type="BOOLEAN").json()
    renamed = api.patch(f"{URL}/{other['id']}", {"name": "tone"}, format="json")
    assert renamed.status_code == 409
    assert ScoreConfig.objects.filter(name="mood").exists()


@pytest.mark.parametrize(
    ("body", "field", "refused_by"),
    [
        ({"data_type": "NUMERIC"}, "name", "shape"),
        ({"name": "  ", "data_type": "NUMERIC"}, "name", "shape"),
        ({"name": "x" * 256}, "name", "shape"),
        ({"name": "a", "data_type": "TEXT"}, "data_type", "shape"),
        ({"name": "a", "data_type": "NUMERIC", "min_value": 5, "max_value": 5}, "max_value", "rule"),
        ({"name": "a", "data_type": "NUMERIC", "min_value": 5, "max_value": 1}, "max_value", "rule"),
        ({"name": "a", "data_type": "NUMERIC", "min_value": "low"}, "min_value", "shape"),
        ({"name": "a", "data_type": "BOOLEAN", "min_value": 0}, "min_value", "rule"),
        ({"name": "a", "data_type": "CATEGORICAL"}, "categories", "rule"),
        ({"name": "a", "data_type": "CATEGORICAL", "categories": []}, "categories", "rule"),
        ({"name": "a", "data_type": "CATEGORICAL", "categories": ["x", "x"]}, "categories", "rule"),
        ({"name": "a", "data_type": "CATEGORICAL", "categories": "PASS"}, "categories", "shape"),
        ({"name": "a", "data_type": "NUMERIC", "categories": ["x"]}, "categories", "rule"),
        ({"name": "a", "data_type": "NUMERIC", "step": 0}, "step", "rule"),
        ({"name": "a", "data_type": "NUMERIC", "step": -1}, "step", "rule"),
        ({"name": "a", "data_type": "NUMERIC", "step": "half"}, "step", "shape"),
        ({"name": "a", "data_type": "NUMERIC", "min_value": 1, "max_value": 5, "step": 3}, "step", "rule"),
        ({"name": "a", "data_type": "NUMERIC", "min_value": 0, "max_value": 1, "step": 2}, "step", "rule"),
        ({"name": "a", "data_type": "BOOLEAN", "step": 1}, "step", "rule"),
    ],
)
def test_bad_config_is_a_422_naming_the_field(api, body, field, refused_by):
    response = create(api, **body)
    assert field in (error_locs(response) if refused_by == "shape" else rule_fields(response))
    assert ScoreConfig.objects.count() == 0


def test_patch_validates_against_the_stored_config(api):
    verdict = create(api, name="verdict", data_type="CATEGORICAL", categories=["PASS"]).json()
    quality = create(api, name="quality", data_type="NUMERIC", min_value=0, max_value=10).json()
    assert rule_fields(api.patch(f"{URL}/{verdict['id']}", {"categories": []}, format="json")) == {
        "categories"
    }
    assert error_locs(api.patch(f"{URL}/{verdict['id']}", {"data_type": "NUMERIC"}, format="json")) == [
        "data_type"
    ]
    assert rule_fields(api.patch(f"{URL}/{quality['id']}", {"max_value": -1}, format="json")) == {"max_value"}
    assert api.patch(f"{URL}/{quality['id']}", {"min_value": None}, format="json").json()["min_value"] is None
    assert ScoreConfig.objects.get(name="verdict").categories == ["PASS"]


def test_another_projects_config_is_404(api, other_api):
    config_id = create(other_api, name="theirs", data_type="BOOLEAN").json()["id"]
    assert api.get(f"{URL}/{config_id}").status_code == 404
    assert api.patch(f"{URL}/{config_id}", {"name": "mine"}, format="json").status_code == 404
    assert api.delete(f"{URL}/{config_id}").status_code == 404
    assert api.get(URL).json()["total"] == 0
    assert ScoreConfig.objects.get(pk=config_id).name == "theirs"


def test_trace_score_with_a_config_is_checked_against_it(api, project):
    verdict = create(api, name="verdict", data_type="CATEGORICAL", categories=["PASS", "FAIL"]).json()
    trace = TraceFactory(project=project)
    body = {"trace_id": str(trace.pk), "name": "verdict", "value": "MAYBE", "data_type": "CATEGORICAL",
            "config_id": verdict["id"]}  # fmt: skip
    assert rule_fields(api.post("/evaluations/trace-scores", body, format="json")) == {"value"}
    body["value"] = "PASS"
    assert api.post("/evaluations/trace-scores", body, format="json").status_code == 201


def test_deleting_a_config_keeps_the_scores_made_with_it(api, project, reviewer):
    from evaluations.services.scores import trace_score_create
    from pandaprobe.projects.access import ProjectAccess

    config_id = create(api, name="helpful", data_type="BOOLEAN").json()["id"]
    config = ScoreConfig.objects.get(pk=config_id)
    trace = TraceFactory(project=project)
    access = ProjectAccess(project=project, user=reviewer)
    score = trace_score_create(access=access, trace_id=trace.pk, name="helpful", value="true",
                               data_type="BOOLEAN", config=config)  # fmt: skip
    assert api.delete(f"{URL}/{config_id}").status_code == 204
    score.refresh_from_db()
    assert (score.value, score.config_id) == ("true", None)


def test_list_query_count_is_constant(api, django_assert_max_num_queries):
    for index in range(30):
        create(api, name=f"c{index}", data_type="BOOLEAN")
    with django_assert_max_num_queries(4):
        assert len(api.get(URL, {"limit": 30}).json()["items"]) == 30


def test_step_is_stored_returned_and_values_are_checked_against_it(api, project):
    config = create(api, name="stars", data_type="NUMERIC", min_value=1, max_value=5, step=0.5).json()
    assert config["step"] == 0.5
    trace = TraceFactory(project=project)
    body = {"trace_id": str(trace.pk), "name": "stars", "value": "2.25", "data_type": "NUMERIC",
            "config_id": config["id"]}  # fmt: skip
    response = api.post("/evaluations/trace-scores", body, format="json")
    assert rule_fields(response) == {"value"} and "step 0.5" in response.json()["detail"]
    body["value"] = "4.5"
    assert api.post("/evaluations/trace-scores", body, format="json").status_code == 201
    patched = api.patch(f"{URL}/{config['id']}", {"step": None}, format="json").json()
    assert patched["step"] is None
    assert rule_fields(api.patch(f"{URL}/{config['id']}", {"step": 3}, format="json")) == {"step"}


def test_admin_form_applies_the_same_rules(project):
    form = ScoreConfigAdminForm(data={"project": project.pk, "name": "v", "data_type": "CATEGORICAL",
                                      "categories": "", "description": ""})  # fmt: skip
    assert not form.is_valid() and "categories" in form.errors
    form = ScoreConfigAdminForm(data={"project": project.pk, "name": "q", "data_type": "NUMERIC",
                                      "min_value": "3", "max_value": "1", "categories": ""})  # fmt: skip
    assert not form.is_valid() and "max_value" in form.errors
    form = ScoreConfigAdminForm(data={"project": project.pk, "name": "q", "data_type": "NUMERIC",
                                      "min_value": "1", "max_value": "5", "step": "3"})  # fmt: skip
    assert not form.is_valid() and "step" in form.errors


def test_admin_form_takes_categories_one_per_line(project):
    form = ScoreConfigAdminForm(data={"project": project.pk, "name": "v", "data_type": "CATEGORICAL",
                                      "categories": " PASS \r\n\nFAIL\n"})  # fmt: skip
    assert form.is_valid(), form.errors
    config = form.save()
    assert config.categories == ["PASS", "FAIL"]
    shown = str(ScoreConfigAdminForm(instance=config)["categories"])  # the edit page's textarea
    assert "PASS\nFAIL</textarea>" in shown and "[" not in shown
    form = ScoreConfigAdminForm(data={"project": project.pk, "name": "w", "data_type": "CATEGORICAL",
                                      "categories": "PASS\nPASS"})  # fmt: skip
    assert not form.is_valid() and "listed twice" in str(form.errors["categories"])
