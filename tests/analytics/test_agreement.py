"""Judge-vs-human agreement against a hand-worked example (kappa, r, the confusion matrix), per
reviewer and between reviewers, the latest-score rule and the thresholds."""

import statistics
from datetime import UTC, datetime, timedelta

import pytest

from evaluations.metrics import TRACE_METRICS
from evaluations.models import ScoreConfig
from tests.factories import TraceFactory, UserFactory

from .test_score_analytics import ok, score

URL = "/evaluations/analytics/trace-scores/agreement"
T0 = datetime(2026, 3, 2, tzinfo=UTC)
JUDGE = [0.9, 0.8, 0.3, 0.6, 0.2]
FIRST_REVIEWER = [1.0, 0.6, 0.4, 0.2, 0.1]


@pytest.fixture
def example(project):
    """Five traces scored by the judge and by reviewer one; two of them by reviewer two as well."""
    traces = [TraceFactory(project=project) for _ in JUDGE]
    one, two = UserFactory(username="one"), UserFactory(username="two")
    for trace, judge, human in zip(traces, JUDGE, FIRST_REVIEWER, strict=True):
        score(trace, value=judge, source="AUTOMATED", at=T0 + timedelta(hours=1))
        score(trace, value=human, source="ANNOTATION", author=one, at=T0 + timedelta(hours=2))
    # Only each side's latest SUCCESS score counts: re-scores before, a failure after.
    score(traces[2], value=0.95, source="AUTOMATED", at=T0)
    score(traces[4], value=None, status="FAILED", source="AUTOMATED", at=T0 + timedelta(hours=5))
    score(traces[0], value=0.1, source="ANNOTATION", author=two, at=T0)
    score(traces[0], value=0.7, source="ANNOTATION", author=two, at=T0 + timedelta(hours=3))
    score(traces[1], value=0.3, source="ANNOTATION", author=two, at=T0 + timedelta(hours=3))
    # Not part of this comparison: another name, another source.
    score(traces[3], "other", value=0.9, source="ANNOTATION", author=two)
    score(traces[3], value=0.9, source="PROGRAMMATIC")
    return {"traces": traces, "one": one, "two": two}


def test_judge_vs_one_reviewer_hand_worked(api, example):
    body = ok(api.get(URL, {"metric_name": "accuracy"}))
    one = next(r for r in body["by_reviewer"] if r["reviewer"]["username"] == "one")
    assert one["reviewer"]["user_id"] == str(example["one"].pk)
    assert one["pair_count"] == 5
    # |.9-1| + |.8-.6| + |.3-.4| + |.6-.2| + |.2-.1| = .1 + .2 + .1 + .4 + .1 = .9
    assert one["mean_absolute_difference"] == pytest.approx(0.9 / 5)
    assert one["pearson_r"] == pytest.approx(statistics.correlation(JUDGE, FIRST_REVIEWER))
    # At 0.5 the judge passes traces 1, 2, 4 and the reviewer 1, 2: agreement on 1, 2, 3, 5.
    assert one["confusion"] == {"pass_pass": 2, "pass_fail": 1, "fail_pass": 0, "fail_fail": 2}
    # observed 4/5; chance (3*2 + 2*3) / 25 = 12/25; kappa (0.8 - 0.48) / (1 - 0.48) = 8/13
    assert one["cohen_kappa"] == pytest.approx(8 / 13)
    assert body["threshold"] == body["other_threshold"] == 0.5  # no config, no judge metric: the midpoint


def test_overall_per_reviewer_and_between_reviewers(api, example):
    body = ok(api.get(URL, {"metric_name": "accuracy"}))
    assert [r["reviewer"]["username"] for r in body["by_reviewer"]] == ["one", "two"]
    two = body["by_reviewer"][1]
    # Reviewer two's latest: 0.7 on trace 1 (not 0.1), 0.3 on trace 2; the judge's: 0.9, 0.8.
    assert two["pair_count"] == 2 and two["mean_absolute_difference"] == pytest.approx((0.2 + 0.5) / 2)
    assert two["confusion"] == {"pass_pass": 1, "pass_fail": 1, "fail_pass": 0, "fail_fail": 0}
    assert two["cohen_kappa"] == pytest.approx(0.0)  # observed 1/2 = chance (2*1 + 0*1) / 4
    overall = body["judge_vs_human"]
    assert overall["pair_count"] == 7
    judge = JUDGE + [0.9, 0.8]
    human = FIRST_REVIEWER + [0.7, 0.3]
    assert overall["mean_absolute_difference"] == pytest.approx(
        statistics.mean(abs(a - b) for a, b in zip(judge, human, strict=True))
    )
    assert overall["pearson_r"] == pytest.approx(statistics.correlation(judge, human))
    (pair,) = body["between_reviewers"]
    assert (pair["reviewer_a"]["username"], pair["reviewer_b"]["username"]) == ("one", "two")
    # one: 1.0, 0.6; two: 0.7, 0.3 on traces 1 and 2.
    assert pair["pair_count"] == 2 and pair["mean_absolute_difference"] == pytest.approx(0.3)
    assert pair["pearson_r"] == pytest.approx(1.0)
    assert pair["confusion"] == {"pass_pass": 1, "pass_fail": 1, "fail_pass": 0, "fail_fail": 0}


def test_annotations_without_an_author_are_one_reviewer_listed_last(api, example):
    score(example["traces"][0], value=0.8, source="ANNOTATION")  # made with an API key
    body = ok(api.get(URL, {"metric_name": "accuracy"}))
    last = body["by_reviewer"][-1]
    assert last["reviewer"] == {"user_id": None, "username": None} and last["pair_count"] == 1
    assert len(body["between_reviewers"]) == 1  # no identity, no pair of reviewers


def test_threshold_parameter_moves_the_confusion_matrix(api, example):
    body = ok(api.get(URL, {"metric_name": "accuracy", "threshold": "0.25"}))
    one = body["by_reviewer"][0]
    # At 0.25 the judge passes 1-4, the reviewer 1-3.
    assert one["confusion"] == {"pass_pass": 3, "pass_fail": 1, "fail_pass": 0, "fail_fail": 1}
    assert body["threshold"] == body["other_threshold"] == 0.25


def test_other_metric_name_compares_two_names_each_at_its_threshold(api, project):
    ScoreConfig.objects.create(project=project, name="correctness", min_value=0, max_value=10)
    reviewer = UserFactory()
    pairs = [(0.9, 8.0), (0.2, 6.0), (0.8, 2.0)]
    for judge, human in pairs:
        trace = TraceFactory(project=project)
        score(trace, "task_completion", judge, source="AUTOMATED")
        score(trace, "correctness", human, source="ANNOTATION", author=reviewer)
    body = ok(api.get(URL, {"metric_name": "task_completion", "other_metric_name": "correctness"}))
    judge_threshold = TRACE_METRICS["task_completion"].default_threshold
    assert (body["threshold"], body["other_threshold"]) == (judge_threshold, 5.0)
    passes = [(j >= judge_threshold, h >= 5.0) for j, h in pairs]
    assert body["judge_vs_human"]["confusion"]["pass_pass"] == passes.count((True, True))
    assert body["judge_vs_human"]["pair_count"] == 3
    # The same name on both sides finds no human `task_completion` scores.
    assert ok(api.get(URL, {"metric_name": "task_completion"}))["judge_vs_human"]["pair_count"] == 0


def test_no_pairs_has_no_statistics(api, project):
    body = ok(api.get(URL, {"metric_name": "accuracy"}))
    assert body["judge_vs_human"] == {
        "pair_count": 0, "mean_absolute_difference": None, "pearson_r": None, "cohen_kappa": None,
        "confusion": {"pass_pass": 0, "pass_fail": 0, "fail_pass": 0, "fail_fail": 0},
    }  # fmt: skip
    assert body["by_reviewer"] == [] and body["between_reviewers"] == []


def test_a_constant_side_has_no_r_and_full_chance_agreement_no_kappa(api, project):
    reviewer = UserFactory()
    for judge in (0.6, 0.7, 0.9):
        trace = TraceFactory(project=project)
        score(trace, value=judge, source="AUTOMATED")
        score(trace, value=0.7, source="ANNOTATION", author=reviewer)
    stats = ok(api.get(URL, {"metric_name": "accuracy"}))["judge_vs_human"]
    assert stats["pearson_r"] is None and stats["cohen_kappa"] is None
    assert stats["confusion"]["pass_pass"] == 3


def test_date_and_environment_filters(api, project, example):
    staging = TraceFactory(project=project, environment="staging")
    score(staging, value=0.9, source="AUTOMATED", at=T0 + timedelta(days=3))
    score(staging, value=0.9, source="ANNOTATION", author=example["one"], at=T0 + timedelta(days=3))
    assert (
        ok(api.get(URL, {"metric_name": "accuracy", "environment": "staging"}))["judge_vs_human"][
            "pair_count"
        ]
        == 1
    )
    recent = ok(api.get(URL, {"metric_name": "accuracy", "date_from": "2026-03-04T00:00:00Z"}))
    assert recent["judge_vs_human"]["pair_count"] == 1
