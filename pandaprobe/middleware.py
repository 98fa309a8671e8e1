"""Site-wide middleware."""

from django.http import HttpRequest, HttpResponse

from . import errors, views


class DomainErrorPagesMiddleware:
    """A domain error that escapes a page view becomes the site's own error page (the API's views
    map them in `pandaprobe/api/errors.py` and never get here)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, errors.NotFound):
            return views.page_not_found(request, exception)
        if isinstance(exception, errors.PermissionDenied):
            return views.permission_denied(request, exception)
        if isinstance(exception, (errors.Conflict, errors.RuleViolation)):
            return views.bad_request(request, exception)
        return None
