from django.conf import settings
from django.http import JsonResponse


class BodySizeLimitMiddleware:
    """Refuse an oversized body with 413 before anything reads it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "Invalid Content-Length header"}, status=400)
        if length > settings.MAX_REQUEST_BODY_BYTES:
            limit = settings.MAX_REQUEST_BODY_BYTES
            return JsonResponse({"detail": f"Request body too large (limit {limit} bytes)"}, status=413)
        return self.get_response(request)
