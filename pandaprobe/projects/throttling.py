"""Throttles on the ways in: the sign-in forms and failed API credentials (django-ratelimit).

Counts live in the default cache (Redis in production, shared by every process). The rates are
settings read from the environment (`RATELIMIT_*`, see settings.py and the README).
"""

import ipaddress
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_ratelimit.core import get_usage

API_AUTH_FAILURES = "api-auth-failures"


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or the header named by CLIENT_IP_HEADER, which only the proxy
    in front may set. A list (X-Forwarded-For) gives its last entry, the one that proxy appended."""
    remote = request.META.get("REMOTE_ADDR", "")
    if settings.CLIENT_IP_HEADER:
        candidate = request.META.get(settings.CLIENT_IP_HEADER, "").rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:  # absent or garbled: the request did not come through the proxy
            pass
    if not remote:
        # One shared bucket for every client would let one of them lock all the others out.
        raise ImproperlyConfigured(
            "REMOTE_ADDR is empty (a proxy on a Unix socket?): set CLIENT_IP_HEADER to the header "
            "in which the proxy passes the client address"
        )
    return remote


def _submitted_username(group: str, request: HttpRequest) -> str:
    # Usernames differing only in case or spaces share a count.
    return request.POST.get(get_user_model().USERNAME_FIELD, "").strip().lower()


def _wait(request: HttpRequest, *, group: str, key, rate: str, increment: bool) -> int | None:
    """Seconds until the window ends when `rate` is used up for this key, else None."""
    usage = get_usage(request, group=group, key=key, rate=rate, increment=increment)
    if usage is None:  # RATELIMIT_ENABLE is off
        return None
    # Counting (increment) is in the count already; a look without counting is refused once full.
    used_up = usage["should_limit"] if increment else usage["count"] >= usage["limit"]
    return max(1, usage["time_left"]) if used_up else None


def login_throttled(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a sign-in view: every POST counts per client address and per submitted username; past
    either rate the answer is a 429 page with Retry-After instead of the view."""

    @wraps(view)
    def throttled(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        waits = [
            _wait(request, group="login-ip", key="ip", rate=settings.RATELIMIT_LOGIN_PER_IP, increment=True),
            _wait(
                request,
                group="login-username",
                key=_submitted_username,
                rate=settings.RATELIMIT_LOGIN_PER_USERNAME,
                increment=True,
            ),
        ]
        wait = max((seconds for seconds in waits if seconds), default=None)
        if wait is None:
            return view(request, *args, **kwargs)
        response = render(request, "429.html", {"retry_after": wait}, status=429)
        response["Retry-After"] = str(wait)
        return response

    return throttled


def api_auth_blocked(request: HttpRequest) -> int | None:
    """Seconds to wait when this address has used up its failed API authentications, else None.
    Checked before a credential is looked up, so while blocked even a valid one is refused: a guesser
    learns nothing, and its neighbours behind the same address wait with it."""
    rate = settings.RATELIMIT_API_AUTH_FAILURES
    return _wait(request, group=API_AUTH_FAILURES, key="ip", rate=rate, increment=False)


def api_auth_failed(request: HttpRequest) -> None:
    """Count one failed API-key or Bearer authentication from this address."""
    get_usage(request, group=API_AUTH_FAILURES, key="ip", rate=settings.RATELIMIT_API_AUTH_FAILURES, increment=True)
