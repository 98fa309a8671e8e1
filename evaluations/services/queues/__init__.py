"""Writes for review queues: building them (`build`) and a reviewer's work in them (`work`)."""

from .build import (
    MAX_HOLD_SECONDS,
    MAX_QUEUE_ITEMS,
    MIN_HOLD_SECONDS,
    QueueItemsAdded,
    review_queue_archive,
    review_queue_create,
    review_queue_items_add,
    review_queue_update,
)
from .work import (
    CLAIM_ATTEMPTS,
    ReviewInput,
    queue_item_hold,
    queue_item_review_submit,
    queue_item_skip,
    queue_next_item_claim,
)

__all__ = [
    "CLAIM_ATTEMPTS", "MAX_HOLD_SECONDS", "MAX_QUEUE_ITEMS", "MIN_HOLD_SECONDS", "QueueItemsAdded", "ReviewInput",
    "queue_item_hold", "queue_item_review_submit", "queue_item_skip", "queue_next_item_claim",
    "review_queue_archive", "review_queue_create", "review_queue_items_add", "review_queue_update",
]  # fmt: skip
