"""One error shape for the whole API.

Every error is `{"detail": "..."}`; validation errors are 422
`{"detail": "Validation error", "errors": [{"field": "spans.3.kind", "message": "..."}]}`.
"""

from collections.abc import Callable
from typing import Any

import pydantic
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from pandaprobe import errors as domain

# Domain errors (raised by services, which know nothing of HTTP) and their status codes.
DOMAIN_STATUS = {
    domain.InvalidRequest: status.HTTP_400_BAD_REQUEST,
    domain.NotFound: status.HTTP_404_NOT_FOUND,
    domain.PermissionDenied: status.HTTP_403_FORBIDDEN,
    domain.Conflict: status.HTTP_409_CONFLICT,
    domain.RuleViolation: status.HTTP_422_UNPROCESSABLE_ENTITY,
}


def _printable(value) -> str:
    # Messages may echo the input ("X is not a valid choice"); a lone surrogate in it would make
    # the error response itself unencodable.
    return str(value).encode("utf-8", "replace").decode()


def flatten_errors(detail, prefix: str = "") -> list[dict[str, str]]:
    """Turn DRF/Django nested error structures into `[{"field", "message"}]` with dotted paths."""
    if isinstance(detail, dict):
        errors = []
        for key, value in detail.items():
            name = "" if key in ("non_field_errors", "__all__") else _printable(key)
            path = f"{prefix}.{name}" if prefix and name else (name or prefix)
            errors.extend(flatten_errors(value, path))
        return errors
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return [{"field": prefix or "body", "message": _printable(item)} for item in detail]
        errors = []
        for index, item in enumerate(detail):
            if item in ({}, [], None):
                continue
            errors.extend(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
        return errors
    return [{"field": prefix or "body", "message": _printable(detail)}]


def validation_error_response(errors: list[dict[str, str]]) -> Response:
    return Response(
        {"detail": "Validation error", "errors": errors}, status=status.HTTP_422_UNPROCESSABLE_ENTITY
    )


def _django_validation_detail(exc: DjangoValidationError):
    return exc.message_dict if hasattr(exc, "error_dict") else exc.messages


def validated(serializer_class, data, **kwargs) -> dict:
    """A request body's validated data (a copy the caller may change); else a 422 naming each bad field."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return (
        dict(serializer.validated_data)
        if isinstance(serializer.validated_data, dict)
        else serializer.validated_data
    )


def validated_model(model: type[pydantic.BaseModel], data) -> Any:
    """A request body checked by a pydantic model, as plain data holding only what was sent (an upsert
    tells "not sent" from null); else a 422 naming each bad field, e.g. `spans.3.kind`."""
    try:
        return model.model_validate(data).model_dump(exclude_unset=True)
    except pydantic.ValidationError as exc:
        raise exceptions.ValidationError(pydantic_errors(exc)) from None


def pydantic_errors(exc: pydantic.ValidationError) -> dict[str, list[str]]:
    """`{"spans.0.kind": [message, ...]}`; a custom error's `json_path` reaches into a JSON value."""
    errors: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        path = [str(part) for part in error["loc"]]
        inner = (error.get("ctx") or {}).get("json_path")
        field = ".".join([*path, inner] if inner else path) or "body"
        errors.setdefault(field, []).append(error["msg"])
    return errors


def require_valid(form_or_filterset):
    """The form or filterset (django-filter) once its input is valid; else a 422 naming each bad field."""
    form = getattr(form_or_filterset, "form", form_or_filterset)
    if not form.is_valid():
        raise DjangoValidationError(form.errors.as_data())
    return form_or_filterset


def validate_all(*checks: Callable[[], Any]) -> list[Any]:
    """Run every check and return their results; if some fail, one 422 lists all their errors
    (`?limit=0&status=FOO` names both parameters, not only the first)."""
    results, errors = [], []
    for check in checks:
        try:
            results.append(check())
        except exceptions.ValidationError as exc:
            errors.extend(flatten_errors(exc.detail))
        except DjangoValidationError as exc:
            errors.extend(flatten_errors(_django_validation_detail(exc)))
    if errors:
        merged: dict[str, list[str]] = {}
        for error in errors:
            merged.setdefault(error["field"], []).append(error["message"])
        raise exceptions.ValidationError(merged)
    return results


def _not_found_detail(exc: Exception) -> str | None:
    if isinstance(exc, ObjectDoesNotExist):
        # A row deleted between the view's lookup and the service's write (`Trace.DoesNotExist`).
        model = type(exc).__qualname__.split(".")[0]
        return f"{model} not found" if model != "ObjectDoesNotExist" else None
    message = str(exc)
    return message if message and "matches the given query" not in message else None


def exception_handler(exc, context):
    if isinstance(exc, domain.DomainError):
        code = next(code for kind, code in DOMAIN_STATUS.items() if isinstance(exc, kind))
        return Response({"detail": _printable(exc.message)}, status=code)
    if isinstance(exc, DjangoValidationError):
        return validation_error_response(flatten_errors(_django_validation_detail(exc)))
    if isinstance(exc, exceptions.ValidationError):
        return validation_error_response(flatten_errors(exc.detail))
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": "Request body too large"}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, (Http404, ObjectDoesNotExist)):
        exc = exceptions.NotFound(_not_found_detail(exc))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": _printable(response.data["detail"])}
    return response
