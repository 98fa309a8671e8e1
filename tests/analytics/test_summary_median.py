"""The summary's median, read from the middle of the `<prefix>_project_value` index (one query per
metric), follows every way scores change: created, edited, deleted, purged with their trace; and it
honours the summary's filters. Runs on SQLite and PostgreSQL."""

import statistics
from datetime import timedelta

import pytest

from tests.factories import TraceFactory

from .test_score_analytics import BASE, T0, ok, score, session_score

SCORES = "/evaluations/trace-scores"


def summary(api, **query) -> dict:
    return {row["metric_name"]: row for row in ok(api.get(f"{BASE}/trace-scores/summary", query))}


def post_score(api, trace, value: str) -> str:
    response = api.post(
        SCORES, {"trace_id": str(trace.pk), "name": "accuracy", "value": value}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def assert_median(api, values: list[float]) -> None:
    row = summary(api)["accuracy"]
    assert row["median_score"] == pytest.approx(statistics.median(values))
    assert row["success_count"] == len(values)


def test_median_follows_scores_created_edited_deleted_and_purged(api, project):
    first, second = TraceFactory(project=project), TraceFactory(project=project)
    low, high, _ = (post_score(api, first, value) for value in ("0.1", "0.9", "0.4"))
    post_score(api, second, "0.7")
    assert_median(api, [0.1, 0.9, 0.4, 0.7])  # 0.55: the mean of the middle two
    assert ok(api.patch(f"{SCORES}/{high}", {"value": "0.2"}, format="json"))["value"] == "0.2"
    assert_median(api, [0.1, 0.2, 0.4, 0.7])
    assert api.delete(f"{SCORES}/{low}").status_code == 204
    assert_median(api, [0.2, 0.4, 0.7])
    assert api.delete(f"/traces/{first.pk}").status_code == 204  # purges its scores
    assert_median(api, [0.7])
    assert api.delete(f"/traces/{second.pk}").status_code == 204
    assert summary(api) == {}


def test_median_of_the_filtered_measured_values_only(api, project):
    prod, staging = TraceFactory(project=project, environment="prod"), TraceFactory(project=project)
    staging.environment = "staging"
    staging.save(update_fields=["environment"])
    rows = [
        (prod, 0.8, "AUTOMATED", 0), (prod, 0.1, "AUTOMATED", 1), (prod, 0.3, "ANNOTATION", 2),
        (staging, 0.6, "AUTOMATED", 3), (staging, 0.6, "ANNOTATION", 4), (staging, 0.95, "AUTOMATED", 5),
    ]  # fmt: skip
    for trace, value, source, day in rows:
        score(trace, value=value, source=source, at=T0 + timedelta(days=day))
    score(prod, value=None, status="FAILED", at=T0 + timedelta(days=6))  # counted, never measured
    score(prod, "other", value=5.0)  # another metric: its own median

    def median(**query):
        return summary(api, **query)["accuracy"]["median_score"]

    assert median() == pytest.approx(statistics.median([0.8, 0.1, 0.3, 0.6, 0.6, 0.95]))
    assert median(source="AUTOMATED") == pytest.approx(statistics.median([0.8, 0.1, 0.6, 0.95]))
    assert median(environment="staging") == pytest.approx(0.6)
    window = {
        "date_from": (T0 + timedelta(days=1)).isoformat(),
        "date_to": (T0 + timedelta(days=4)).isoformat(),
    }
    assert median(**window) == pytest.approx(0.3)  # days 1-3: 0.1, 0.3, 0.6
    assert summary(api)["other"]["median_score"] == 5.0
    assert summary(api, date_from=(T0 + timedelta(days=6)).isoformat())["accuracy"]["median_score"] is None


def test_session_summary_median_and_one_query_per_metric(api, project, django_assert_max_num_queries):
    for i, value in enumerate([0.9, 0.2, 0.5, 0.4]):
        session_score(project, f"s-{i}", value)
        session_score(project, f"s-{i}", 1 - value, name="consistency")
    with django_assert_max_num_queries(4) as captured:  # the key, the aggregates, one median each
        rows = ok(api.get(f"{BASE}/session-scores/summary"))
    assert [row["median_score"] for row in rows] == [pytest.approx(0.55), pytest.approx(0.45)]
    assert sum("ORDER BY" in q["sql"] and "LIMIT" in q["sql"] and "score" in q["sql"].split("FROM")[1] for q in captured) == 2
