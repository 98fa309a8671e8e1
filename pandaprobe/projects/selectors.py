"""Reads for projects and credentials."""

import time

from django.utils import timezone

from .models import ApiKey, Membership, PersonalAccessToken, Project, hash_secret

# Every ingestion request looks its key up; a found key is kept this long in the process (keyed by
# the hash, never the raw key). Revoking through the service forgets it here at once; other worker
# processes follow within this time.
API_KEY_CACHE_SECONDS = 5.0
_API_KEY_CACHE_SIZE = 1024
_api_keys: dict[str, tuple[float, ApiKey]] = {}


def api_key_by_raw(raw_key: str) -> ApiKey | None:
    key_hash = hash_secret(raw_key)
    now = time.monotonic()
    cached = _api_keys.get(key_hash)
    if cached is not None and cached[0] > now:
        return cached[1]
    key = ApiKey.objects.select_related("project").filter(key_hash=key_hash).first()
    if key is not None:
        if len(_api_keys) >= _API_KEY_CACHE_SIZE:
            _api_keys.clear()
        _api_keys[key_hash] = (now + API_KEY_CACHE_SECONDS, key)
    return key


def api_key_forget(api_key: ApiKey) -> None:
    """Drop the key from this process's cache, so a change to it applies to the next request."""
    _api_keys.pop(api_key.key_hash, None)


def access_token_by_raw(raw_token: str) -> PersonalAccessToken | None:
    return PersonalAccessToken.objects.select_related("user").filter(key_hash=hash_secret(raw_token)).first()


def is_expired(expires_at) -> bool:
    return expires_at is not None and expires_at <= timezone.now()


def projects_for_user(user) -> list[Project]:
    if user.is_superuser:
        return list(Project.objects.all())
    return list(Project.objects.filter(memberships__user=user).order_by("name"))


def membership_role(*, user, project_id) -> str | None:
    """The user's role in the project (superusers are admins everywhere), or None."""
    if user.is_superuser:
        return Membership.Role.ADMIN
    return Membership.objects.filter(user=user, project_id=project_id).values_list("role", flat=True).first()


def project_by_id(project_id) -> Project | None:
    return Project.objects.filter(pk=project_id).first()
