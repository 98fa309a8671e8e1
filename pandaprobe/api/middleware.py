from http import HTTPStatus

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from pandaprobe import views


class BodySizeLimitMiddleware:
    """Refuse a body that cannot be read whole, before anything reads it: one over the size limit
    (413), or one sent without a Content-Length (411).

    Without a Content-Length Django reads a body as empty: `Transfer-Encoding: chunked` would silently
    become `{}`. (`manage.py serve` passes the chunks on undecoded; gunicorn decodes them, but Django
    still reads nothing.) Every client we know of sends a length; refusing is the honest answer, and
    it keeps the size limit, which is checked on the declared length.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "HTTP_TRANSFER_ENCODING" in request.META:
            return JsonResponse(
                {"detail": "Send the body with a Content-Length header; Transfer-Encoding is not supported"},
                status=411,
            )
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "Invalid Content-Length header"}, status=400)
        if length > settings.MAX_REQUEST_BODY_BYTES:
            limit = settings.MAX_REQUEST_BODY_BYTES
            return JsonResponse({"detail": f"Request body too large (limit {limit} bytes)"}, status=413)
        return self.get_response(request)


# The site-wide error views, which answer JSON outside the pages.
ERROR_VIEWS = {
    400: views.bad_request,
    403: views.permission_denied,
    404: views.page_not_found,
    500: views.server_error,
}


class JsonErrorsMiddleware:
    """No API path ever answers HTML: an error Django rendered itself becomes the API's JSON.

    With DEBUG on, Django answers a path no route matches, a bad request and a crash with its
    technical pages and never calls `handler404` & co.; with DEBUG off those handlers already answer
    JSON. Pages (/app/, /admin/) keep their HTML. The DEBUG traceback is still logged.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or views.is_page(request) or _is_json(response):
            return response
        view = ERROR_VIEWS.get(response.status_code)
        if view is not None:
            return view(request)
        return JsonResponse({"detail": _phrase(response.status_code)}, status=response.status_code)


def _is_json(response: HttpResponse) -> bool:
    return "json" in response.get("Content-Type", "")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
