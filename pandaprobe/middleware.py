"""Site-wide middleware."""

from django.http import Http404, HttpRequest, HttpResponse

from . import errors, views


class DomainErrorPagesMiddleware:
    """A domain error that escapes a page view becomes the site's own error page (the API's views
    map them in `pandaprobe/api/errors.py` and never get here). So does a page's `Http404`, which
    Django would answer with its technical page under DEBUG: a link to another project's page, or
    to an object that is not in the URL's project, must look the same in every environment."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, errors.NotFound) or (
            isinstance(exception, Http404) and views.is_page(request)
        ):
            return views.page_not_found(request, exception)
        if isinstance(exception, errors.PermissionDenied):
            return views.permission_denied(request, exception)
        if isinstance(exception, (errors.Conflict, errors.RuleViolation)):
            return views.bad_request(request, exception)
        return None
