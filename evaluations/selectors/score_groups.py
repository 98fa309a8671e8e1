"""Several reviewers' scores of one name, side by side: rows by author and source, and a summary
(mean, spread, agreement) when there are several. Pure functions over scores already read."""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations

from ..models import ScoreDataType, ScoreSource, ScoreStatus

# Two numeric scores agree when they differ by at most this share of the config's range.
AGREEMENT_TOLERANCE = 0.1
# Who gave a score when no user did.
SOURCE_LABELS = {ScoreSource.AUTOMATED: "judge", ScoreSource.PROGRAMMATIC: "API"}


@dataclass(frozen=True)
class ScoreSummary:
    count: int
    mean: float | None  # None for categorical scores
    low: float | None
    high: float | None
    agreement: float  # share of pairs that agree, 0..1

    @property
    def mean_text(self) -> str:
        return _short(self.mean)

    @property
    def spread_text(self) -> str:
        return f"{_short(self.low)}–{_short(self.high)}"

    @property
    def agreement_percent(self) -> int:
        return round(self.agreement * 100)


def _short(number: float | None) -> str:
    # Two decimals at most, none when whole: 3.4, not 3.4000000000000004 or 3.40.
    return "" if number is None else f"{round(number, 2):g}"


@dataclass(frozen=True)
class ScoreRow:
    """One author's (or the judge's) score of a name, with its own history."""

    score: object
    author: str
    events: list = field(default_factory=list)
    can_change: bool = False  # whether the viewer may edit or delete it


@dataclass(frozen=True)
class ScoreGroup:
    """One name's scores, one row per (source, author), newest first."""

    name: str
    rows: list[ScoreRow]
    summary: ScoreSummary | None  # only with two or more successful values

    @property
    def authors(self) -> str:
        return ", ".join(row.author for row in self.rows)

    @property
    def latest(self):
        return self.rows[0].score


def score_author_label(score) -> str:
    """The author's username, else "judge" (AUTOMATED) or "API" (PROGRAMMATIC)."""
    if score.author_id is not None:
        return score.author.get_username()
    return SOURCE_LABELS.get(score.source, "API")


def _numeric_tolerance(config) -> float:
    if config is None or config.min_value is None or config.max_value is None:
        return 0.0
    return AGREEMENT_TOLERANCE * (config.max_value - config.min_value)


def values_agree(first, second) -> bool:
    """Whether two scores of one name agree.

    Categorical and boolean scores agree when their values are equal. Numeric scores agree when
    they differ by at most 10 % of their config's range (max - min); without a config that has a
    range, only equal values agree.
    """
    if first.data_type != ScoreDataType.NUMERIC or first.numeric_value is None:
        return first.value == second.value
    if second.numeric_value is None:
        return False
    tolerance = _numeric_tolerance(first.config if first.config_id else None)
    return abs(first.numeric_value - second.numeric_value) <= tolerance + 1e-9


def agreement(scores: list) -> float:
    """The share of pairs of `scores` that agree (`values_agree`); 1.0 for fewer than two."""
    pairs = list(combinations(scores, 2))
    if not pairs:
        return 1.0
    return sum(values_agree(a, b) for a, b in pairs) / len(pairs)


def score_summary(scores: list) -> ScoreSummary | None:
    """Mean, min–max and agreement of the successful values, when there are two or more."""
    done = [s for s in scores if s.status == ScoreStatus.SUCCESS and s.value is not None]
    if len(done) < 2:
        return None
    numbers = [s.numeric_value for s in done]
    numeric = all(n is not None for n in numbers)
    return ScoreSummary(
        count=len(done),
        mean=sum(numbers) / len(numbers) if numeric else None,
        low=min(numbers) if numeric else None,
        high=max(numbers) if numeric else None,
        agreement=agreement(done),
    )


def _never(score) -> bool:
    return False


def score_groups(
    scores: list, *, history: dict | None = None, can_change: Callable[[object], bool] = _never
) -> list[ScoreGroup]:
    """`scores` (the latest per name, source and author) grouped by name, names in order; each row
    with its score's events from `history` (by score id) and whether the viewer may change it."""
    by_name: dict[str, list] = defaultdict(list)
    for score in scores:
        events = (history or {}).get(score.pk, [])
        row = ScoreRow(
            score=score, author=score_author_label(score), events=events, can_change=can_change(score)
        )
        by_name[score.name].append(row)
    return [
        ScoreGroup(name=name, rows=rows, summary=score_summary([row.score for row in rows]))
        for name, rows in sorted(by_name.items())
    ]
