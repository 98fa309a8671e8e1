"""Writes for projects, API keys, memberships and personal access tokens."""

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from pandaprobe.errors import RuleViolation

from .models import ApiKey, HashedCredential, Membership, PersonalAccessToken, Project, hash_secret
from .selectors import api_key_forget

API_KEY_PREFIX = "sk_pp_"
ACCESS_TOKEN_PREFIX = "pat_pp_"
DISPLAY_PREFIX_LENGTH = 12


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


def _issue(model: type[HashedCredential], prefix: str, **fields) -> tuple[HashedCredential, str]:
    raw = prefix + secrets.token_hex(32)
    credential = model.objects.create(
        key_prefix=raw[:DISPLAY_PREFIX_LENGTH], key_hash=hash_secret(raw), **fields
    )
    return credential, raw


def _mark_used(model: type[HashedCredential], credential_id: str, used_at: datetime) -> None:
    """Record use; only moves forward, so a late or redelivered message changes nothing."""
    model.objects.filter(pk=credential_id).exclude(last_used_at__gte=used_at).update(last_used_at=used_at)


def api_key_create(*, project: Project, name: str = "", expires_at: datetime | None = None) -> IssuedApiKey:
    """Create a key for `project`; the raw key exists only in the return value."""
    key, raw = _issue(ApiKey, API_KEY_PREFIX, project=project, name=name, expires_at=expires_at)
    return IssuedApiKey(api_key=key, raw_key=raw)


def api_key_revoke(*, api_key: ApiKey) -> None:
    """Revoke a key: refused from the next request in this process, within
    `selectors.API_KEY_CACHE_SECONDS` in the others."""
    ApiKey.objects.filter(pk=api_key.pk).update(is_active=False)
    api_key.is_active = False
    api_key_forget(api_key)


def credential_update(
    *, credential: HashedCredential, name: str, expires_at: datetime | None, is_active: bool
) -> None:
    """Rename a key or token, change its expiry, or revoke it. Nothing else changes: it stays with its
    project (or user), and a revoked credential stays revoked, since whoever held it may still hold it."""
    model = type(credential)
    with transaction.atomic():
        stored = model.objects.select_for_update().get(pk=credential.pk)
        if is_active and not stored.is_active:
            raise RuleViolation(f"A revoked {model._meta.verbose_name} cannot be re-activated; issue a new one")
        model.objects.filter(pk=stored.pk).update(name=name, expires_at=expires_at, is_active=is_active)
    if isinstance(credential, ApiKey):
        api_key_forget(credential)  # the change applies to the next request


def api_key_mark_used(*, api_key_id: str, used_at: datetime) -> None:
    _mark_used(ApiKey, api_key_id, used_at)


def access_token_create(*, user, name: str = "", expires_at: datetime | None = None) -> IssuedAccessToken:
    """Create a personal access token for `user`; the raw token exists only in the return value."""
    token, raw = _issue(PersonalAccessToken, ACCESS_TOKEN_PREFIX, user=user, name=name, expires_at=expires_at)
    return IssuedAccessToken(token=token, raw_token=raw)


def access_token_mark_used(*, token_id: str, used_at: datetime) -> None:
    _mark_used(PersonalAccessToken, token_id, used_at)


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
