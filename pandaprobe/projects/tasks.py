"""Dramatiq actors for projects: thin, idempotent, calling services."""

import dramatiq
from django.utils.dateparse import parse_datetime

from . import services


@dramatiq.actor(max_retries=3, queue_name="default")
def record_api_key_use(api_key_id: str, used_at: str) -> None:
    services.api_key_mark_used(api_key_id=api_key_id, used_at=parse_datetime(used_at))


@dramatiq.actor(max_retries=3, queue_name="default")
def record_access_token_use(token_id: str, used_at: str) -> None:
    services.access_token_mark_used(token_id=token_id, used_at=parse_datetime(used_at))
