"""Judge-vs-human agreement on trace scores: does the LLM judge score as people do?

A pair is one trace's judge score (AUTOMATED, name `metric_name`) and one reviewer's score of it
(ANNOTATION, name `other_metric_name`, the same name unless given). On each side only the latest
SUCCESS score with a value counts (newest created_at, then higher id): the judge's per trace, each
reviewer's per trace, so a re-scored trace is one pair per reviewer, not one per re-run. Annotations
made through an API key have no author: together they are one "reviewer" with no user.

The database does the work in one pass per comparison: the latest scores of each side (`newest_values`,
read in order from the `tscore_agreement` index), the pairs (a join on the trace) and, per reviewer
or pair of reviewers, the sums every statistic is made of. Python turns those few sums into r and
kappa.
"""

import math
from dataclasses import dataclass, fields

from django.contrib.auth import get_user_model
from django.db import connections

from evaluations.metrics import TRACE_METRICS
from evaluations.models import ScoreSource, TraceScore
from pandaprobe.api.errors import require_valid, validate_all

from .. import filters as f
from ..functions import newest_values, without_jit
from .scores import MEASURED, value_span

JUDGE, HUMAN = ScoreSource.AUTOMATED.value, ScoreSource.ANNOTATION.value
# Each side's latest scored value per (trace, author): the judge's, then the reviewers'.
LATEST_SQL = "WITH judge AS ({judge}), human AS ({human})"
# Per pair group: n, sum x, sum y, sum x*x, sum y*y, sum x*y, sum |x-y|, then the confusion matrix
# (pass = value >= the side's threshold): pass/pass, pass/fail, fail/pass; fail/fail is the rest.
SUMS_SQL = """
    COUNT(*), SUM(a.value), SUM(b.value), SUM(a.value * a.value), SUM(b.value * b.value),
    SUM(a.value * b.value), SUM(ABS(a.value - b.value)),
    SUM(CASE WHEN a.value >= %s AND b.value >= %s THEN 1 ELSE 0 END),
    SUM(CASE WHEN a.value >= %s AND b.value < %s THEN 1 ELSE 0 END),
    SUM(CASE WHEN a.value < %s AND b.value >= %s THEN 1 ELSE 0 END)
"""
JUDGE_VS_HUMAN_SQL = """
    SELECT b.author_id, {sums} FROM judge a JOIN human b ON b.trace_id = a.trace_id
    GROUP BY b.author_id
"""
# Only traces that several reviewers scored can pair reviewers: counting them per trace reads the
# reviewers' scores once, in trace order, where joining every score with every other read them twice.
BETWEEN_REVIEWERS_SQL = """
    , shared AS (
        SELECT trace_id, author_id, value FROM (
            SELECT trace_id, author_id, value, COUNT(*) OVER (PARTITION BY trace_id) AS reviewers FROM human
        ) counted WHERE reviewers > 1
    )
    SELECT a.author_id, b.author_id, {sums} FROM shared a JOIN shared b ON b.trace_id = a.trace_id
    WHERE a.author_id < b.author_id
    GROUP BY a.author_id, b.author_id
"""


@dataclass
class PairSums:
    """The sums of a set of (a, b) pairs that every statistic is made of; they add up."""

    n: int = 0
    sum_a: float = 0.0
    sum_b: float = 0.0
    sum_aa: float = 0.0
    sum_bb: float = 0.0
    sum_ab: float = 0.0
    sum_abs_diff: float = 0.0
    pass_pass: int = 0
    pass_fail: int = 0
    fail_pass: int = 0

    @classmethod
    def from_row(cls, values) -> "PairSums":
        return cls(*(value or 0 for value in values))

    def __add__(self, other: "PairSums") -> "PairSums":
        return PairSums(*(getattr(self, x.name) + getattr(other, x.name) for x in fields(self)))

    @property
    def fail_fail(self) -> int:
        return self.n - self.pass_pass - self.pass_fail - self.fail_pass

    def pearson_r(self) -> float | None:
        """None when a side does not vary (r is undefined)."""
        spread_a = self.n * self.sum_aa - self.sum_a**2
        spread_b = self.n * self.sum_bb - self.sum_b**2
        # Rounding leaves a constant side's spread a hair above 0 rather than exactly 0.
        if self.n < 2 or spread_a <= 1e-9 * self.n * self.sum_aa or spread_b <= 1e-9 * self.n * self.sum_bb:
            return None
        r = (self.n * self.sum_ab - self.sum_a * self.sum_b) / math.sqrt(spread_a * spread_b)
        return max(-1.0, min(1.0, r))

    def cohen_kappa(self) -> float | None:
        """None when chance agreement is certain (both sides put every pair in one class)."""
        if self.n == 0:
            return None
        observed = (self.pass_pass + self.fail_fail) / self.n
        a_pass, b_pass = self.pass_pass + self.pass_fail, self.pass_pass + self.fail_pass
        chance = (a_pass * b_pass + (self.n - a_pass) * (self.n - b_pass)) / self.n**2
        return None if chance >= 1 else (observed - chance) / (1 - chance)

    def statistics(self) -> dict:
        return {
            "pair_count": self.n,
            "mean_absolute_difference": self.sum_abs_diff / self.n if self.n else None,
            "pearson_r": self.pearson_r(),
            "cohen_kappa": self.cohen_kappa(),
            "confusion": {
                "pass_pass": self.pass_pass, "pass_fail": self.pass_fail,
                "fail_pass": self.fail_pass, "fail_fail": self.fail_fail,
            },
        }  # fmt: skip


def metric_threshold(*, project, metric_name: str) -> float:
    """Where a score passes: the judge metric's `default_threshold`, else the midpoint of the score
    config's scale (0.5 on the default 0-1 scale)."""
    if metric_name in TRACE_METRICS:
        return TRACE_METRICS[metric_name].default_threshold
    low, high = value_span(project=project, metric_name=metric_name)
    return (low + high) / 2


def _latest_scores(*, filterset, judge_name: str, human_name: str) -> tuple[str, tuple]:
    judge, judge_params = newest_values(filterset.qs.filter(MEASURED, source=JUDGE, name=judge_name))
    human, human_params = newest_values(filterset.qs.filter(MEASURED, source=HUMAN, name=human_name))
    return LATEST_SQL.format(judge=judge, human=human), (*judge_params, *human_params)


def _grouped_sums(latest: tuple[str, tuple], query: str, *, thresholds: tuple, keys: int):
    """{group key: PairSums} of one comparison; `keys` leading columns make the group key."""
    sql = latest[0] + query.format(sums=SUMS_SQL)
    a, b = thresholds
    params = (*latest[1], a, b, a, b, a, b)
    with connections[TraceScore.objects.db].cursor() as cursor:
        cursor.execute(sql, params)
        return {tuple(row[:keys]): PairSums.from_row(row[keys:]) for row in cursor.fetchall()}


def _reviewer(user_id, usernames: dict) -> dict:
    return {"user_id": None if user_id is None else str(user_id), "username": usernames.get(user_id)}


def _reviewer_order(item) -> tuple:
    (user_id,), _ = item
    return user_id is None, user_id or 0  # users by id, the authorless (API keys) last


def trace_score_agreement(*, project, params) -> dict:
    """Judge vs humans overall and per reviewer, and reviewers with each other where several scored
    one trace; each with pair count, mean absolute difference, Pearson r, Cohen's kappa at the
    thresholds and the confusion matrix (a = the judge or the first reviewer, b = the other)."""
    filterset, options = validate_all(
        lambda: require_valid(f.AgreementFilter(params, queryset=TraceScore.objects.filter(project=project))),
        lambda: require_valid(f.AgreementParams(params)).cleaned_data,
    )
    judge_name = options["metric_name"]
    human_name = options["other_metric_name"] or judge_name
    threshold = options["threshold"]
    thresholds = tuple(
        metric_threshold(project=project, metric_name=name) if threshold is None else threshold
        for name in (judge_name, human_name)
    )
    latest = _latest_scores(filterset=filterset, judge_name=judge_name, human_name=human_name)
    with without_jit(TraceScore.objects.db):
        by_reviewer = _grouped_sums(latest, JUDGE_VS_HUMAN_SQL, thresholds=thresholds, keys=1)
        between = _grouped_sums(latest, BETWEEN_REVIEWERS_SQL, thresholds=(thresholds[1],) * 2, keys=2)
    user_ids = {user_id for key in (*by_reviewer, *between) for user_id in key if user_id is not None}
    usernames = dict(get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username"))
    return {
        "metric_name": judge_name,
        "other_metric_name": human_name,
        "threshold": thresholds[0],
        "other_threshold": thresholds[1],
        "judge_vs_human": sum(by_reviewer.values(), PairSums()).statistics(),
        "by_reviewer": [
            {"reviewer": _reviewer(user_id, usernames), **sums.statistics()}
            for (user_id,), sums in sorted(by_reviewer.items(), key=_reviewer_order)
        ],
        "between_reviewers": [
            {
                "reviewer_a": _reviewer(a, usernames),
                "reviewer_b": _reviewer(b, usernames),
                **sums.statistics(),
            }
            for (a, b), sums in sorted(between.items())
        ],
    }
