"""Reads for projects and credentials."""

from django.utils import timezone

from .models import ApiKey, Membership, PersonalAccessToken, Project
from .services import hash_secret


def api_key_by_raw(raw_key: str) -> ApiKey | None:
    return ApiKey.objects.select_related("project").filter(key_hash=hash_secret(raw_key)).first()


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
