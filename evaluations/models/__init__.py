"""The evaluations app's models: scores (with configs, edit history and hourly rollups), review queues,
runs."""

from .queues import ItemReview, NotApplicableScore, ReviewQueue, ReviewQueueItem
from .rollups import ScoreRollup
from .runs import EvalRun, EvalRunStatus, EvalTarget, EvalTargetStatus, EvalTargetType
from .scores import (
    ScoreConfig,
    ScoreDataType,
    ScoreEvent,
    ScoreFields,
    ScoreSource,
    ScoreStatus,
    SessionScore,
    TraceScore,
    score_indexes,
)

__all__ = [
    "EvalRun", "EvalRunStatus", "EvalTarget", "EvalTargetStatus", "EvalTargetType", "ItemReview",
    "NotApplicableScore", "ReviewQueue", "ReviewQueueItem", "ScoreConfig", "ScoreDataType", "ScoreEvent",
    "ScoreFields", "ScoreRollup", "ScoreSource", "ScoreStatus", "SessionScore", "TraceScore", "score_indexes",
]  # fmt: skip
