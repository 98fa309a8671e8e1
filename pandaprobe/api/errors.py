"""One error shape for the whole API.

Every error is `{"detail": "..."}`; validation errors are 422
`{"detail": "Validation error", "errors": [{"field": "spans.3.kind", "message": "..."}]}`.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict"
    default_code = "conflict"


def flatten_errors(detail, prefix: str = "") -> list[dict[str, str]]:
    """Turn DRF/Django nested error structures into `[{"field", "message"}]` with dotted paths."""
    if isinstance(detail, dict):
        errors = []
        for key, value in detail.items():
            name = "" if key in ("non_field_errors", "__all__") else str(key)
            path = f"{prefix}.{name}" if prefix and name else (name or prefix)
            errors.extend(flatten_errors(value, path))
        return errors
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return [{"field": prefix or "body", "message": str(item)} for item in detail]
        errors = []
        for index, item in enumerate(detail):
            if item in ({}, [], None):
                continue
            errors.extend(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
        return errors
    return [{"field": prefix or "body", "message": str(detail)}]


def validation_error_response(errors: list[dict[str, str]]) -> Response:
    return Response(
        {"detail": "Validation error", "errors": errors}, status=status.HTTP_422_UNPROCESSABLE_ENTITY
    )


def _django_validation_detail(exc: DjangoValidationError):
    return exc.message_dict if hasattr(exc, "error_dict") else exc.messages


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        return validation_error_response(flatten_errors(_django_validation_detail(exc)))
    if isinstance(exc, exceptions.ValidationError):
        return validation_error_response(flatten_errors(exc.detail))
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": "Request body too large"}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(
            str(exc) if str(exc) and "matches the given query" not in str(exc) else None
        )
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": str(response.data["detail"])}
    return response


def json_not_found(request, exception=None):
    return JsonResponse({"detail": "Not found."}, status=404)


def json_server_error(request):
    return JsonResponse({"detail": "Internal server error"}, status=500)
