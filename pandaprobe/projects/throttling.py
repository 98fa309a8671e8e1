"""Throttles on the ways in: the sign-in forms and failed API credentials (django-ratelimit).

Counts live in the default cache (Redis in production, shared by every process). The rates are
settings read from the environment (`RATELIMIT_*`, see settings.py and the README).
"""

import ipaddress
import math
import time
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_ratelimit.core import get_usage

API_AUTH_FAILURES = "api-auth-failures"
# One IPv6 client usually holds a whole /64: counting single addresses would let it rotate freely.
IPV6_PREFIX = 64


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or the header named by CLIENT_IP_HEADER, which only the proxy
    in front may set. A list (X-Forwarded-For) gives its last entry, the one that proxy appended."""
    if settings.CLIENT_IP_HEADER:
        candidate = request.META.get(settings.CLIENT_IP_HEADER, "").rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:  # absent or garbled: the request did not come through the proxy
            pass
    remote = request.META.get("REMOTE_ADDR", "")
    if not remote:
        # One shared count for every client would let any of them lock all the others out.
        raise ImproperlyConfigured(
            "REMOTE_ADDR is empty (a proxy on a Unix socket?): set CLIENT_IP_HEADER to the header "
            "in which the proxy passes the client address"
        )
    return remote


def client_network(group: str | None, request: HttpRequest) -> str:
    """What the throttles count by (a django-ratelimit key function): the client's IPv4 address, or
    its IPv6 /64."""
    address = ipaddress.ip_address(client_ip(request))
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False).network_address)
    return str(address)


def _submitted_username(group: str, request: HttpRequest) -> str:
    # Usernames differing only in case or spaces share a count.
    return request.POST.get(get_user_model().USERNAME_FIELD, "").strip().lower()


def _count(request: HttpRequest, *, group: str, key: Callable, rate: str) -> int | None:
    """Count one attempt; the seconds until the window ends if that used up `rate`, else None."""
    usage = get_usage(request, group=group, key=key, rate=rate, increment=True)
    if usage is None or not usage["should_limit"]:  # None: RATELIMIT_ENABLE is off
        return None
    return max(1, usage["time_left"])


def _too_many_page(request: HttpRequest, wait: int) -> HttpResponse:
    response = render(request, "429.html", {"retry_after": wait}, status=429)
    response["Retry-After"] = str(wait)
    return response


def login_throttled(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a sign-in view: every POST counts per client address and per submitted username; past
    either rate the answer is a 429 page with Retry-After instead of the view."""

    @wraps(view)
    def throttled(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        waits = [
            _count(request, group="login-ip", key=client_network, rate=settings.RATELIMIT_LOGIN_PER_IP),
            _count(
                request,
                group="login-username",
                key=_submitted_username,
                rate=settings.RATELIMIT_LOGIN_PER_USERNAME,
            ),
        ]
        wait = max((seconds for seconds in waits if seconds), default=None)
        if wait is None:
            return view(request, *args, **kwargs)
        return _too_many_page(request, wait)

    return throttled


# Every API request with a credential asks whether its address is blocked. django-ratelimit's own
# look (`get_usage` without counting) costs two cache round trips (add, then get), and creates the
# counter; the flag below costs one GET and exists only while an address is blocked.
def _blocked_key(request: HttpRequest) -> str:
    return f"{API_AUTH_FAILURES}:blocked:{client_network(None, request)}"


def api_auth_blocked(request: HttpRequest) -> int | None:
    """Seconds to wait when this address has used up its failed API authentications, else None.
    Asked before a credential is looked up, so while blocked even a valid one is refused: a list of
    leaked keys cannot be tried faster than the rate, and no guess is confirmed."""
    until = cache.get(_blocked_key(request))
    return max(1, math.ceil(until - time.time())) if until else None


def api_auth_failed(request: HttpRequest) -> None:
    """Count one failed API-key or Bearer authentication from this address; the one that reaches the
    rate blocks the address until the window ends."""
    rate = settings.RATELIMIT_API_AUTH_FAILURES
    usage = get_usage(request, group=API_AUTH_FAILURES, key=client_network, rate=rate, increment=True)
    if usage is not None and usage["count"] >= usage["limit"]:
        seconds = max(1, usage["time_left"])
        cache.set(_blocked_key(request), time.time() + seconds, timeout=seconds)


def _credential(group: str, request: HttpRequest) -> str:
    # Counted per credential (an API key, or a user whatever token or browser they use: a page's
    # request has no `auth`, its user is signed in).
    access = getattr(request, "auth", None)
    if access is None:
        return f"user:{request.user.pk}"
    return f"key:{access.api_key.pk}" if access.api_key is not None else f"user:{access.user_id}"


def eval_run_writes_wait(request) -> int | None:
    """Seconds to wait when this credential has used up its run creations and retries, else None
    (counting this one)."""
    return _count(request, group="eval-run-writes", key=_credential, rate=settings.RATELIMIT_EVAL_RUNS)


def run_writes_throttled(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a page that starts or retries runs: its POSTs count against the user's run creations and
    retries with the API's (`eval_run_writes_wait`); past the rate, a 429 page with Retry-After."""

    @wraps(view)
    def throttled(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        wait = eval_run_writes_wait(request) if request.method == "POST" else None
        if wait is None:
            return view(request, *args, **kwargs)
        return _too_many_page(request, wait)

    return throttled
