"""How a request reaches one project.

Three ways in, tried in order: `X-API-Key` + `X-Project-Name`; `Authorization: Bearer <personal
access token>` + `X-Project-ID`; the browser session (+ `X-Project-ID` or the session's current
project). Each ends in a `ProjectAccess` on `request.auth`; every view scopes its queries to
`request.auth.project`.

Failed API keys and Bearer tokens count per client address (`throttling`); past the limit, every
request from that address that carries one answers 429 with Retry-After until the window ends.
"""

import uuid

from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.permissions import BasePermission

from . import selectors, services, tasks, throttling
from .access import SESSION_PROJECT_KEY, ProjectAccess, user_access


def _record_use(credential, actor, **kwargs) -> None:
    now = timezone.now()
    # The credential may be the cached instance: mark it, so the next requests do not send again.
    credential.last_used_at = now
    transaction.on_commit(lambda: actor.send(**kwargs, used_at=now.isoformat()))


def _parse_project_id(raw: str | None) -> uuid.UUID | None:
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise exceptions.AuthenticationFailed("X-Project-ID must be a project UUID") from None


def _refuse_when_blocked(request) -> None:
    wait = throttling.api_auth_blocked(request._request)
    if wait is not None:
        raise exceptions.Throttled(
            wait=wait, detail="Too many failed authentications from this address; wait and retry."
        )


def _failed(request, message: str) -> exceptions.AuthenticationFailed:
    """The 401 for a wrong, revoked or expired credential, counted against the client's address."""
    throttling.api_auth_failed(request._request)
    return exceptions.AuthenticationFailed(message)


def user_project_access(user, project_id: uuid.UUID | None) -> ProjectAccess:
    """The signed-in user's access to a project: 403 when they are not a member."""
    if project_id is None:
        raise exceptions.AuthenticationFailed("X-Project-ID header is required")
    access = user_access(user, project_id)
    if access is None:
        raise exceptions.PermissionDenied("You are not a member of this project")
    return access


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        raw_key = request.META.get("HTTP_X_API_KEY")
        if raw_key is None:
            return None
        project_name = request.META.get("HTTP_X_PROJECT_NAME")
        if not project_name:
            raise exceptions.AuthenticationFailed("X-Project-Name header is required with X-API-Key")
        _refuse_when_blocked(request)
        key = selectors.api_key_by_raw(raw_key.strip())
        if key is None:
            raise _failed(request, "Invalid API key")
        if not key.is_active:
            raise _failed(request, "API key has been revoked")
        if selectors.is_expired(key.expires_at):
            raise _failed(request, "API key has expired")
        if key.project.name != project_name:
            raise exceptions.PermissionDenied(
                "API key does not belong to the project named in X-Project-Name"
            )
        if services.credential_touch_due(key.last_used_at):
            _record_use(key, tasks.record_api_key_use, api_key_id=str(key.pk))
        return AnonymousUser(), ProjectAccess(project=key.project, api_key=key)

    def authenticate_header(self, request) -> str:
        return 'ApiKey realm="api", header="X-API-Key"'


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        token = self.valid_token(request)
        if token is None:
            return None
        access = user_project_access(token.user, _parse_project_id(request.META.get("HTTP_X_PROJECT_ID")))
        self.record_use(token)
        return token.user, access

    def valid_token(self, request):
        """The request's active, unexpired access token; None without a Bearer header; 401 otherwise."""
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, raw_token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        _refuse_when_blocked(request)
        token = selectors.access_token_by_raw(raw_token.strip()) if raw_token.strip() else None
        if token is None or not token.is_active or not token.user.is_active:
            raise _failed(request, "Invalid or revoked access token")
        if selectors.is_expired(token.expires_at):
            raise _failed(request, "Access token has expired")
        return token

    def record_use(self, token) -> None:
        if services.credential_touch_due(token.last_used_at):
            _record_use(token, tasks.record_access_token_use, token_id=str(token.pk))

    def authenticate_header(self, request) -> str:
        return "Bearer"


class BearerUserAuthentication(BearerTokenAuthentication):
    """A Bearer token's user, in no project (`GET /me`): no X-Project-ID, and `request.auth` is None."""

    def authenticate(self, request):
        token = self.valid_token(request)
        if token is None:
            return None
        self.record_use(token)
        return token.user, None


class SessionProjectAuthentication(SessionAuthentication):
    """The signed-in browser user, in the project of X-Project-ID or the session's current one."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        raw = request.META.get("HTTP_X_PROJECT_ID") or request._request.session.get(SESSION_PROJECT_KEY)
        if not raw:
            # Like the pages: a user who never switched works in their first project.
            first = selectors.projects_for_user(user)[:1]
            raw = str(first[0].pk) if first else None
        return user, user_project_access(user, _parse_project_id(raw))


class HasProjectAccess(BasePermission):
    message = "Authentication required: send X-API-Key and X-Project-Name, or a Bearer token and X-Project-ID"

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ProjectAccess):
            return True
        if request.auth is None and not request.user.is_authenticated:
            raise exceptions.NotAuthenticated(self.message)
        return False


