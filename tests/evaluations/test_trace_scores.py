"""POST / GET latest / PATCH / DELETE of trace scores."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from evaluations.models import ScoreConfig, ScoreEvent, TraceScore

from ..errors import error_locs, named_fields, rule_detail, rule_fields
from ..factories import TraceFactory, TraceScoreFactory

URL = "/evaluations/trace-scores"


@pytest.fixture
def trace(project):
    return TraceFactory(project=project, environment="prod")


def post_score(client, trace, **body):
    return client.post(
        URL, {"trace_id": str(trace.pk), "name": "accuracy", "value": "0.5", **body}, format="json"
    )


# --- create -------------------------------------------------------------------------------------


def test_create_defaults_to_numeric_annotation_with_every_response_field(api, trace):
    response = post_score(api, trace, value="0.92")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {
        "id", "trace_id", "name", "value", "status", "source", "created_at", "project_id", "data_type",
        "eval_run_id", "author_user_id", "reason", "environment", "config_id", "metadata", "updated_at",
    }  # fmt: skip
    assert body["data_type"] == "NUMERIC" and body["source"] == "ANNOTATION" and body["status"] == "SUCCESS"
    assert body["value"] == "0.92" and body["trace_id"] == str(trace.pk)
    assert body["project_id"] == str(api.project.pk)
    assert body["environment"] == "prod"  # copied from the trace
    assert body["author_user_id"] is None and body["eval_run_id"] is None and body["config_id"] is None
    assert body["metadata"] == {}
    stored = TraceScore.objects.get(pk=body["id"])
    assert stored.numeric_value == pytest.approx(0.92)


def test_create_by_a_user_sets_the_author(bearer_client, reviewer, project, trace):
    client = bearer_client(reviewer, project)
    response = post_score(client, trace, reason="looks right", metadata={"k": 1})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["author_user_id"] == str(reviewer.pk)
    assert body["reason"] == "looks right" and body["metadata"] == {"k": 1}


def test_programmatic_source_is_accepted(api, trace):
    assert post_score(api, trace, source="PROGRAMMATIC").json()["source"] == "PROGRAMMATIC"


def test_automated_source_is_refused(api, trace):
    # AUTOMATED is the judge's: the API takes only ANNOTATION and PROGRAMMATIC.
    response = post_score(api, trace, source="AUTOMATED")
    assert error_locs(response) == ["source"]
    assert not TraceScore.objects.exists()


@pytest.mark.parametrize("value", ["0", "1", "0.0", "1.0", "0.5", " 0.25 ", "1e-1", ".5", "+1", "-0"])
def test_numeric_boundaries_accepted(api, trace, value):
    response = post_score(api, trace, value=value)
    assert response.status_code == 201, response.json()
    assert TraceScore.objects.get().numeric_value == pytest.approx(float(value))


@pytest.mark.parametrize(
    "value",
    [
        "-0.0001",
        "1.0001",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "",
        "   ",
        "abc",
        "0.5x",
        "0.1_5",
        "0x1",
        "1e999",
        "infinity",
    ],
)
def test_numeric_bad_values_are_422_naming_value(api, trace, value):
    response = post_score(api, trace, value=value)
    assert named_fields(response) == {"value"}
    assert not TraceScore.objects.exists()


@pytest.mark.parametrize(
    ("sent", "stored", "number"), [("true", "true", 1.0), ("FALSE", "false", 0.0), (True, "true", 1.0)]
)
def test_boolean_values_are_normalized(api, trace, sent, stored, number):
    response = post_score(api, trace, data_type="BOOLEAN", value=sent)
    assert response.status_code == 201, response.json()
    assert response.json()["value"] == stored
    assert TraceScore.objects.get().numeric_value == number


@pytest.mark.parametrize("value", ["yes", "1", "0", "", "truth"])
def test_boolean_bad_values(api, trace, value):
    response = post_score(api, trace, data_type="BOOLEAN", value=value)
    assert named_fields(response) == {"value"}


def test_categorical_label(api, trace):
    response = post_score(api, trace, data_type="CATEGORICAL", value="PASS")
    assert response.status_code == 201
    assert response.json()["value"] == "PASS"
    assert TraceScore.objects.get().numeric_value is None


@pytest.mark.parametrize("value", ["", "  "])
def test_categorical_empty_label_refused(api, trace, value):
    response = post_score(api, trace, data_type="CATEGORICAL", value=value)
    assert named_fields(response) == {"value"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"trace_id": "not-a-uuid"}, "trace_id"),
        ({"name": ""}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"data_type": "TEXT"}, "data_type"),
        ({"source": "HUMAN"}, "source"),
        ({"metadata": [1, 2]}, "metadata"),
        ({"config_id": "nope"}, "config_id"),
    ],
)
def test_malformed_fields_are_422_naming_them(api, trace, body, field):
    response = post_score(api, trace, **body)
    assert field in error_locs(response)


def test_missing_required_fields(api):
    response = api.post(URL, {}, format="json")
    assert set(error_locs(response)) == {"trace_id", "name", "value"}


def test_unknown_trace_is_404(api):
    response = api.post(URL, {"trace_id": str(uuid.uuid4()), "name": "a", "value": "1"}, format="json")
    assert response.status_code == 404


def test_create_on_another_projects_trace_is_404(other_api, trace):
    assert post_score(other_api, trace).status_code == 404
    assert not TraceScore.objects.exists()


# --- config_id ----------------------------------------------------------------------------------


def test_config_checks_type_range_and_categories(api, trace, project):
    numeric = ScoreConfig.objects.create(
        project=project, name="stars", data_type="NUMERIC", min_value=1, max_value=5
    )
    labels = ScoreConfig.objects.create(
        project=project, name="verdict", data_type="CATEGORICAL", categories=["PASS", "FAIL"]
    )
    ok = post_score(api, trace, name="stars", value="4.5", config_id=str(numeric.pk))
    assert ok.status_code == 201 and ok.json()["config_id"] == str(numeric.pk)
    assert rule_detail(post_score(api, trace, value="0.5", config_id=str(numeric.pk))) == (
        "value: 0.5 is outside the allowed range [1.0, 5.0]"
    )
    assert rule_fields(post_score(api, trace, value="6", config_id=str(numeric.pk))) == {"value"}
    wrong_type = post_score(api, trace, data_type="BOOLEAN", value="true", config_id=str(numeric.pk))
    assert rule_fields(wrong_type) == {"data_type"}
    assert (
        post_score(api, trace, data_type="CATEGORICAL", value="FAIL", config_id=str(labels.pk)).status_code
        == 201
    )
    assert rule_fields(
        post_score(api, trace, data_type="CATEGORICAL", value="MEH", config_id=str(labels.pk))
    ) == {"value"}


def test_unknown_or_foreign_or_archived_config_is_422_naming_config_id(api, trace, other_project, project):
    foreign = ScoreConfig.objects.create(project=other_project, name="accuracy")
    archived = ScoreConfig.objects.create(project=project, name="old", is_archived=True)
    for config_id in (uuid.uuid4(), foreign.pk, archived.pk):
        response = post_score(api, trace, config_id=str(config_id))
        assert rule_fields(response) == {"config_id"}
    assert not TraceScore.objects.exists()


# --- latest per name ----------------------------------------------------------------------------


def test_latest_score_per_name_including_failed(api, trace):
    now = timezone.now()
    TraceScoreFactory(trace=trace, name="accuracy", value="0.1", created_at=now - timedelta(hours=2))
    newest_accuracy = TraceScoreFactory(
        trace=trace, name="accuracy", value="0.9", created_at=now - timedelta(hours=1)
    )
    TraceScoreFactory(trace=trace, name="relevance", value="0.7", created_at=now - timedelta(hours=3))
    failed = TraceScoreFactory(trace=trace, name="relevance", value=None, status="FAILED", created_at=now)
    TraceScoreFactory(
        trace=TraceFactory(project=trace.project), name="accuracy", created_at=now + timedelta(1)
    )
    response = api.get(f"{URL}/{trace.pk}")
    assert response.status_code == 200
    body = response.json()
    assert [(s["name"], s["id"]) for s in body] == [
        ("accuracy", str(newest_accuracy.pk)),
        ("relevance", str(failed.pk)),
    ]
    assert body[1]["value"] is None and body[1]["status"] == "FAILED"


def test_latest_tie_on_created_at_goes_to_the_higher_id(api, trace):
    at = timezone.now()
    low = uuid.UUID("00000000-0000-4000-8000-000000000001")
    high = uuid.UUID("ffffffff-0000-4000-8000-000000000001")
    # Created in both orders so insertion order cannot decide it.
    TraceScoreFactory(trace=trace, id=high, name="a", created_at=at)
    TraceScoreFactory(trace=trace, id=low, name="a", created_at=at)
    TraceScoreFactory(trace=trace, id=uuid.UUID(int=low.int + 1), name="b", created_at=at)
    TraceScoreFactory(trace=trace, id=uuid.UUID(int=high.int + 1), name="b", created_at=at)
    body = api.get(f"{URL}/{trace.pk}").json()
    assert [(s["name"], s["id"]) for s in body] == [("a", str(high)), ("b", str(uuid.UUID(int=high.int + 1)))]


def test_latest_for_a_trace_without_scores_is_an_empty_list(api, trace):
    response = api.get(f"{URL}/{trace.pk}")
    assert response.status_code == 200 and response.json() == []


def test_latest_for_unknown_or_foreign_trace_is_404(api, other_api, trace):
    TraceScoreFactory(trace=trace)
    assert api.get(f"{URL}/{uuid.uuid4()}").status_code == 404
    assert other_api.get(f"{URL}/{trace.pk}").status_code == 404


def test_latest_scores_per_reviewer_in_one_query(project, admin_user, django_assert_num_queries):
    from evaluations.selectors.scores import latest_scores_per_reviewer

    traces = [TraceFactory(project=project) for _ in range(3)]
    now = timezone.now()
    for index, trace in enumerate(traces[:2]):
        TraceScoreFactory(trace=trace, name="a", value="0.1", created_at=now - timedelta(minutes=1))
        TraceScoreFactory(trace=trace, name="a", value=f"0.{index + 5}", created_at=now)
        TraceScoreFactory(trace=trace, name="b", created_at=now)
    # Another author's older score of "a" is not hidden by the newer one.
    TraceScoreFactory(
        trace=traces[0], name="a", value="0.9", author=admin_user, created_at=now - timedelta(hours=1)
    )
    with django_assert_num_queries(1):
        latest = latest_scores_per_reviewer(project=project, trace_ids=[t.pk for t in traces])
    assert [(s.name, s.value) for s in latest[traces[0].pk]] == [("a", "0.5"), ("a", "0.9"), ("b", "0.5")]
    assert [(s.name, s.value) for s in latest[traces[1].pk]] == [("a", "0.6"), ("b", "0.5")]
    assert latest[traces[2].pk] == []


# --- PATCH --------------------------------------------------------------------------------------


def test_patch_forces_status_source_updated_at_and_author(bearer_client, admin_user, project, trace):
    old = timezone.now() - timedelta(days=1)
    score = TraceScoreFactory(
        trace=trace, source="AUTOMATED", status="FAILED", value=None, metadata={"old": True},
        reason="judge error", created_at=old, updated_at=old,
    )  # fmt: skip
    client = bearer_client(admin_user, project)
    response = client.patch(f"{URL}/{score.pk}", {"value": "0.8", "metadata": {"new": 1}}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["value"] == "0.8" and body["status"] == "SUCCESS" and body["source"] == "ANNOTATION"
    assert body["metadata"] == {"new": 1}  # replaced, not merged
    assert body["reason"] == "judge error"  # not sent: unchanged
    assert body["author_user_id"] == str(admin_user.pk)
    score.refresh_from_db()
    assert score.updated_at > old and score.created_at == old
    assert score.numeric_value == pytest.approx(0.8)


def test_patch_by_api_key_keeps_the_author(api, admin_user, trace):
    score = TraceScoreFactory(trace=trace, author=admin_user, source="PROGRAMMATIC")
    response = api.patch(f"{URL}/{score.pk}", {"reason": "re-checked"}, format="json")
    assert response.status_code == 200
    assert response.json()["author_user_id"] == str(admin_user.pk)
    assert response.json()["source"] == "ANNOTATION" and response.json()["reason"] == "re-checked"


def test_patch_reason_null_clears_it_and_value_null_keeps_it(api, trace):
    score = TraceScoreFactory(trace=trace, value="0.3", reason="why")
    body = api.patch(f"{URL}/{score.pk}", {"reason": None, "value": None}, format="json").json()
    assert body["reason"] is None and body["value"] == "0.3"


@pytest.mark.parametrize(
    ("data_type", "value", "bad"),
    [
        ("NUMERIC", "0.2", "1.5"),
        ("NUMERIC", "0.2", "abc"),
        ("BOOLEAN", "true", "maybe"),
        ("CATEGORICAL", "A", "  "),
    ],
)
def test_patch_value_is_validated_against_the_scores_type(api, trace, data_type, value, bad):
    score = TraceScoreFactory(trace=trace, data_type=data_type, value=value)
    response = api.patch(f"{URL}/{score.pk}", {"value": bad}, format="json")
    assert named_fields(response) == {"value"}
    score.refresh_from_db()
    assert score.value == value
    assert not ScoreEvent.objects.filter(score_id=score.pk).exists()


def test_patch_value_is_validated_against_the_scores_config(api, trace, project):
    config = ScoreConfig.objects.create(project=project, name="stars", min_value=1, max_value=5)
    score = TraceScoreFactory(trace=trace, name="stars", value="3", config=config)
    assert api.patch(f"{URL}/{score.pk}", {"value": "5"}, format="json").status_code == 200
    assert rule_fields(api.patch(f"{URL}/{score.pk}", {"value": "0.5"}, format="json")) == {"value"}


def test_patch_boolean_normalizes(api, trace):
    score = TraceScoreFactory(trace=trace, data_type="BOOLEAN", value="false", numeric_value=0)
    assert api.patch(f"{URL}/{score.pk}", {"value": "TRUE"}, format="json").json()["value"] == "true"
    score.refresh_from_db()
    assert score.numeric_value == 1.0


def test_patch_failed_score_without_a_value_is_422(api, trace):
    score = TraceScoreFactory(trace=trace, value=None, status="FAILED")
    response = api.patch(f"{URL}/{score.pk}", {"reason": "ok"}, format="json")
    assert rule_fields(response) == {"value"}
    score.refresh_from_db()
    assert score.status == "FAILED"


def test_patch_ignores_fields_it_does_not_edit(api, trace):
    score = TraceScoreFactory(trace=trace, name="accuracy")
    body = api.patch(
        f"{URL}/{score.pk}", {"name": "other", "status": "PENDING", "value": "1"}, format="json"
    ).json()
    assert body["name"] == "accuracy" and body["status"] == "SUCCESS"


def test_patch_bad_metadata_is_422(api, trace):
    score = TraceScoreFactory(trace=trace)
    response = api.patch(f"{URL}/{score.pk}", {"metadata": "x"}, format="json")
    assert error_locs(response) == ["metadata"]


def test_patch_unknown_or_foreign_score_is_404(api, other_api, trace):
    score = TraceScoreFactory(trace=trace)
    assert api.patch(f"{URL}/{uuid.uuid4()}", {"value": "1"}, format="json").status_code == 404
    assert other_api.patch(f"{URL}/{score.pk}", {"value": "1"}, format="json").status_code == 404
    score.refresh_from_db()
    assert score.value == "0.5"


# --- DELETE -------------------------------------------------------------------------------------


def test_delete(api, trace):
    score = TraceScoreFactory(trace=trace)
    response = api.delete(f"{URL}/{score.pk}")
    assert response.status_code == 204
    assert not TraceScore.objects.filter(pk=score.pk).exists()
    assert api.delete(f"{URL}/{score.pk}").status_code == 404


def test_delete_foreign_score_is_404(other_api, trace):
    score = TraceScoreFactory(trace=trace)
    assert other_api.delete(f"{URL}/{score.pk}").status_code == 404
    assert TraceScore.objects.filter(pk=score.pk).exists()


# --- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", ""),
        ("get", ""),
        ("get", "/export?format=csv"),
        ("get", "/{trace}"),
        ("patch", "/{score}"),
        ("delete", "/{score}"),
        ("get", "/{score}/history"),
    ],
)
def test_every_route_needs_credentials(anon, trace, method, path):
    score = TraceScoreFactory(trace=trace)
    url = URL + path.format(trace=trace.pk, score=score.pk)
    response = getattr(anon, method)(
        url,
        {"trace_id": str(trace.pk), "name": "a", "value": "1"} if method == "post" else None,
        format="json",
    )
    assert response.status_code == 401
    assert TraceScore.objects.filter(pk=score.pk).exists()


def test_get_on_a_score_id_is_read_as_a_trace_id(api, trace):
    score = TraceScoreFactory(trace=trace)
    # The route clash: GET takes a trace id, so a score id is an unknown trace.
    assert api.get(f"{URL}/{score.pk}").status_code == 404


def test_sdk_payload_shape(api, trace):
    body = {
        "trace_id": str(trace.pk), "name": "thumbs_up", "value": "true", "data_type": "BOOLEAN",
        "source": "PROGRAMMATIC", "reason": None, "metadata": {},
    }  # fmt: skip
    response = api.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["source"] == "PROGRAMMATIC" and response.json()["value"] == "true"
