"""Writes for projects, API keys, memberships and personal access tokens."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from .models import ApiKey, Membership, PersonalAccessToken, Project

API_KEY_PREFIX = "sk_pp_"
ACCESS_TOKEN_PREFIX = "pat_pp_"
DISPLAY_PREFIX_LENGTH = 12


def hash_secret(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _new_secret(prefix: str) -> str:
    return prefix + secrets.token_hex(32)


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    raw_key: str


@dataclass(frozen=True)
class IssuedAccessToken:
    token: PersonalAccessToken
    raw_token: str


def project_get_or_create(*, name: str, description: str = "") -> Project:
    project, _ = Project.objects.get_or_create(name=name, defaults={"description": description})
    return project


def api_key_create(*, project: Project, name: str = "", expires_at: datetime | None = None) -> IssuedApiKey:
    """Create a key for `project`; the raw key exists only in the return value."""
    raw = _new_secret(API_KEY_PREFIX)
    key = ApiKey.objects.create(
        project=project,
        name=name,
        key_prefix=raw[:DISPLAY_PREFIX_LENGTH],
        key_hash=hash_secret(raw),
        expires_at=expires_at,
    )
    return IssuedApiKey(api_key=key, raw_key=raw)


def api_key_revoke(*, api_key: ApiKey) -> None:
    ApiKey.objects.filter(pk=api_key.pk).update(is_active=False)
    api_key.is_active = False


def api_key_mark_used(*, api_key_id: str, used_at: datetime) -> None:
    """Record use; only moves forward, so a late or redelivered message changes nothing."""
    ApiKey.objects.filter(pk=api_key_id).exclude(last_used_at__gte=used_at).update(last_used_at=used_at)


def access_token_create(*, user, name: str = "", expires_at: datetime | None = None) -> IssuedAccessToken:
    raw = _new_secret(ACCESS_TOKEN_PREFIX)
    token = PersonalAccessToken.objects.create(
        user=user,
        name=name,
        token_prefix=raw[:DISPLAY_PREFIX_LENGTH],
        token_hash=hash_secret(raw),
        expires_at=expires_at,
    )
    return IssuedAccessToken(token=token, raw_token=raw)


def access_token_mark_used(*, token_id: str, used_at: datetime) -> None:
    PersonalAccessToken.objects.filter(pk=token_id).exclude(last_used_at__gte=used_at).update(
        last_used_at=used_at
    )


def membership_set(*, user, project: Project, role: str) -> Membership:
    with transaction.atomic():
        membership, _ = Membership.objects.update_or_create(
            user=user, project=project, defaults={"role": role}
        )
    return membership


def credential_touch_due(last_used_at: datetime | None, now: datetime | None = None) -> bool:
    """Usage is recorded at most once a minute per credential, to keep writes off the hot path."""
    now = now or timezone.now()
    return last_used_at is None or (now - last_used_at).total_seconds() >= 60
