"""The API's one exception handler, and the two error shapes of the reference API.

- A request of the wrong shape (a body, query or path parameter that does not validate) is a 422
  `HTTPValidationError`: `{"detail": [{"loc": ["body", "spans", 0, "kind"], "msg": "...", "type":
  "literal_error"}]}`. Its location is decided once, by whoever validates: `validated` and
  `validated_model` (body), `require_valid` and `page_params` (query), the path converters
  (`pandaprobe/api/paths.py`). Each raises a `RequestValidationError`.
- A request refused by a rule is `{"detail": "..."}`: a domain error (`pandaprobe/errors.py`), or a
  Django `ValidationError` a service raised about a field (422, `"value: 1.5 is outside ..."`).
"""

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

import pydantic
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from pandaprobe import errors as domain

Location = Literal["body", "query", "path"]
Loc = tuple[str | int, ...]
# One error inside its location: (path, message, type), e.g. (("spans", 0, "kind"), "...", "literal_error").
FieldError = tuple[Loc, str, str]

# Domain errors (raised by services, which know nothing of HTTP) and their status codes.
DOMAIN_STATUS = {
    domain.InvalidRequest: status.HTTP_400_BAD_REQUEST,
    domain.NotFound: status.HTTP_404_NOT_FOUND,
    domain.PermissionDenied: status.HTTP_403_FORBIDDEN,
    domain.Conflict: status.HTTP_409_CONFLICT,
    domain.RuleViolation: status.HTTP_422_UNPROCESSABLE_ENTITY,
}
# The type of an error whose validator gave no code of its own.
DEFAULT_TYPE = "value_error"
# DRF and Django put errors of the whole object under these keys; the reference puts them at the parent.
WHOLE_OBJECT_KEYS = ("non_field_errors", "__all__")


def _printable(value) -> str:
    # Messages may echo the input ("X is not a valid choice"); a lone surrogate in it would make
    # the error response itself unencodable.
    return str(value).encode("utf-8", "replace").decode()


class RequestValidationError(DjangoValidationError):
    """The request's shape is wrong: one 422 listing every error with its location.

    A Django `ValidationError` too (keyed by dotted field), so pages that show a filter's errors
    beside its field catch it like any form error.
    """

    def __init__(self, location: Location, errors: Iterable[FieldError]):
        self.location = location
        self.field_errors = [(tuple(loc), _printable(msg), kind or DEFAULT_TYPE) for loc, msg, kind in errors]
        by_field: dict[str, list[DjangoValidationError]] = {}
        for loc, msg, kind in self.field_errors:
            field = ".".join(str(part) for part in loc) or "__all__"
            by_field.setdefault(field, []).append(DjangoValidationError(msg, code=kind))
        super().__init__(by_field)

    @property
    def detail(self) -> list[dict[str, Any]]:
        """The reference's `HTTPValidationError.detail`."""
        return [
            {"loc": [self.location, *loc], "msg": msg, "type": kind} for loc, msg, kind in self.field_errors
        ]

    @classmethod
    def from_drf(cls, location: Location, detail) -> "RequestValidationError":
        """From DRF's nested errors (`serializer.errors`, `ValidationError.detail`)."""
        return cls(location, _drf_errors(detail, ()))

    @classmethod
    def from_django(cls, location: Location, error: DjangoValidationError) -> "RequestValidationError":
        """From a Django form's (or a django-filter filterset's) errors."""
        detail = error.error_dict if hasattr(error, "error_dict") else {"__all__": error.error_list}
        return cls(
            location,
            [
                ((() if field in WHOLE_OBJECT_KEYS else (field,)), message, item.code)
                for field, items in detail.items()
                for item in items
                for message in item.messages
            ],
        )

    @classmethod
    def from_pydantic(cls, location: Location, exc: pydantic.ValidationError) -> "RequestValidationError":
        """From pydantic's errors; a custom error's `json_path` reaches into a JSON value."""
        errors = []
        for error in exc.errors(include_url=False):
            inner = (error.get("ctx") or {}).get("json_path")
            errors.append(((*error["loc"], inner) if inner else error["loc"], error["msg"], error["type"]))
        return cls(location, errors)


def _drf_errors(detail, loc: Loc) -> Iterator[FieldError]:
    if isinstance(detail, dict):
        for key, value in detail.items():
            yield from _drf_errors(value, loc if key in WHOLE_OBJECT_KEYS else (*loc, key))
    elif isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        # A list serializer's errors: one entry per item, empty for the valid ones.
        for index, item in enumerate(detail):
            yield from _drf_errors(item, (*loc, index))
    elif isinstance(detail, list):
        for item in detail:
            yield loc, item, getattr(item, "code", None)
    else:
        yield loc, detail, getattr(detail, "code", None)


def validated(serializer_class, data, **kwargs) -> dict:
    """A request body's validated data (a copy the caller may change); else a 422 naming each bad field."""
    serializer = serializer_class(data=data, **kwargs)
    if not serializer.is_valid():
        raise RequestValidationError.from_drf("body", serializer.errors)
    return (
        dict(serializer.validated_data)
        if isinstance(serializer.validated_data, dict)
        else serializer.validated_data
    )


def validated_model(model: type[pydantic.BaseModel], data) -> Any:
    """A request body checked by a pydantic model, as plain data holding only what was sent (an upsert
    tells "not sent" from null); else a 422 naming each bad field, e.g. `["body", "spans", 3, "kind"]`."""
    try:
        return model.model_validate(data).model_dump(exclude_unset=True)
    except pydantic.ValidationError as exc:
        raise RequestValidationError.from_pydantic("body", exc) from None


def require_valid(form_or_filterset):
    """The form or filterset (django-filter) of query parameters once they are valid; else a 422
    naming each bad parameter."""
    form = getattr(form_or_filterset, "form", form_or_filterset)
    if not form.is_valid():
        raise RequestValidationError.from_django("query", DjangoValidationError(form.errors.as_data()))
    return form_or_filterset


def validate_all(*checks: Callable[[], Any]) -> list[Any]:
    """Run every query-parameter check and return their results; if some fail, one 422 lists all
    their errors (`?limit=0&status=FOO` names both parameters, not only the first)."""
    results, failures = [], []
    for check in checks:
        try:
            results.append(check())
        except RequestValidationError as exc:
            failures.append(exc)
    if failures:
        raise RequestValidationError("query", [error for exc in failures for error in exc.field_errors])
    return results


def rule_message(error: DjangoValidationError) -> str:
    """A service's ValidationError as one line that keeps each field's name: `value: 1.5 is ...`."""
    if not hasattr(error, "error_dict"):
        return "; ".join(error.messages)
    return "; ".join(
        message if field in WHOLE_OBJECT_KEYS else f"{field}: {message}"
        for field, messages in error.message_dict.items()
        for message in messages
    )


def _not_found_detail(exc: Exception) -> str | None:
    if isinstance(exc, ObjectDoesNotExist):
        # A row deleted between the view's lookup and the service's write (`Trace.DoesNotExist`).
        model = type(exc).__qualname__.split(".")[0]
        return f"{model} not found" if model != "ObjectDoesNotExist" else None
    message = str(exc)
    return message if message and "matches the given query" not in message else None


def _unprocessable(detail) -> Response:
    return Response({"detail": detail}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)


def exception_handler(exc, context):
    # Imported here: `rest_framework.views` loads the parser classes, and the parser imports this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, RequestValidationError):  # before its base class, a rule's ValidationError
        return _unprocessable(exc.detail)
    if isinstance(exc, exceptions.ValidationError):  # a serializer used without `validated()`: a body
        return _unprocessable(RequestValidationError.from_drf("body", exc.detail).detail)
    if isinstance(exc, DjangoValidationError):
        return _unprocessable(_printable(rule_message(exc)))
    if isinstance(exc, domain.DomainError):
        code = next(code for kind, code in DOMAIN_STATUS.items() if isinstance(exc, kind))
        return Response({"detail": _printable(exc.message)}, status=code)
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
