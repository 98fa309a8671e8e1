"""Dramatiq actors for evaluations: thin and idempotent; the services claim the work."""

import dramatiq

from .services import runs


@dramatiq.actor(max_retries=3, queue_name="evaluations", time_limit=3_600_000)
def evaluate_targets(target_ids: list[int]) -> None:
    runs.eval_targets_process(target_ids=target_ids)


@dramatiq.actor(max_retries=0, queue_name="evaluations")
def resume_runs() -> None:
    runs.eval_runs_resume()
