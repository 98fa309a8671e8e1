"""What the OpenAPI document says beyond what drf-spectacular reads from each view, written once.

- `query_parameters(...)`: the query parameters of a list, read from the very forms and filtersets
  that validate them, so a bound (choices, UUID, date-time, required) is stated where it is checked.
- `postprocess(...)`, the one postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]):
  every operation's error responses with their bodies, nullable fields as `anyOf` with null, and
  every property of a response-only shape marked required (a serializer always renders them all).
"""

import copy
from collections.abc import Iterable, Iterator

import django_filters
from django import forms
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiParameter

from .fields import MAX_JSON_DEPTH

# The reference document's validation-error shapes, copied exactly: a client generated from it parses
# our 422s with them.
REFERENCE_SCHEMAS = {
    "HTTPValidationError": {
        "properties": {
            "detail": {
                "items": {"$ref": "#/components/schemas/ValidationError"},
                "type": "array",
                "title": "Detail",
            }
        },
        "type": "object",
        "title": "HTTPValidationError",
    },
    "ValidationError": {
        "properties": {
            "loc": {
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                "type": "array",
                "title": "Location",
            },
            "msg": {"type": "string", "title": "Message"},
            "type": {"type": "string", "title": "Error Type"},
            "input": {"title": "Input"},
            "ctx": {"type": "object", "title": "Context"},
        },
        "type": "object",
        "required": ["loc", "msg", "type"],
        "title": "ValidationError",
    },
}
# Every other error (and a rule's 422): `{"detail": "..."}`.
ERROR_DETAIL = {
    "type": "object",
    "title": "ErrorDetail",
    "description": "An error other than a malformed request: what went wrong, in words.",
    "properties": {"detail": {"type": "string", "title": "Detail"}},
    "required": ["detail"],
}

ERROR_DESCRIPTIONS = {
    400: "The body is not valid JSON, or Content-Length is malformed",
    401: "No credentials, or invalid, revoked or expired ones",
    403: "Not a member of the project, or the role does not allow this",
    404: "Not found in this project",
    405: "The id is not a score id (a UUID): the URL names a session, which has only GET",
    409: "Conflicts with what exists",
    413: "The request body is larger than the server accepts",
    415: "The body is not JSON (Content-Type)",
    422: "A malformed request (each problem's `loc` starts with body, query or path)",
    429: "Too many requests: retry after `Retry-After` seconds",
}
# Refused in every body by the parser (pandaprobe/api/parsers.py): said once, not on every string.
BODY_RULES = (
    "In every request body, strings may not hold NUL characters or lone surrogates, numbers must be "
    f"finite, and nesting may be at most {MAX_JSON_DEPTH} levels deep (422 naming the field)."
)
RULE_422_DESCRIPTION = (
    "A malformed request (`detail` lists each problem, its `loc` starting with body, query or path); "
    "or a well-formed one that a rule refuses (`detail` says which, in words)"
)
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before the next request",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
}
# What a few operations answer beyond what their shape implies (path ids 404, bodies 400/413/415).
EXTRA_STATUSES: dict[str, set[int]] = {
    "ingest_trace": {409},  # the trace_id belongs to another project
    "create_trace_score": {404},  # no such trace in the project
    "create_session_score": {404},  # no such session in the project
    "create_score_config": {409},  # the name is taken
    # Evaluation runs: an unknown metric or a filter that cannot be applied (the guide's 400), another
    # project's trace, a run that has already ended.
    "create_eval_run": {400},
    "create_batch_eval_run": {400, 404},
    "get_eval_run_template": {400},
    "cancel_eval_run": {409},
    "create_session_eval_run": {400},
    "create_batch_session_eval_run": {400, 404},
    "cancel_session_eval_run": {409},
    "update_score_config": {409},
    # `/evaluations/session-scores/{id}` with an id that cannot be a score's (pandaprobe/api/views.py)
    "update_session_score": {405},
    "delete_session_score": {405},
}
# Operations where a well-formed request can still break a rule that JSON Schema cannot state (a value
# outside its config's range or not of its data type, a range whose max is below its min, an end before
# the start, a time window that runs backwards): their 422 is either shape. tests/test_fuzz_openapi.py
# reads them from the document.
RULE_OPERATIONS = {
    "ingest_trace", "add_spans", "update_trace", "update_span",
    "create_trace_score", "update_trace_score", "create_session_score", "update_session_score",
    "create_score_config", "update_score_config",
    "create_eval_run", "create_batch_eval_run", "retry_failed_eval_run",
    "create_session_eval_run", "create_batch_session_eval_run", "retry_failed_session_eval_run",
    # Score analytics: a date_to before date_from, a metric_name of blanks only (422 naming it).
    "get_trace_score_analytics_summary", "get_trace_score_analytics_trend",
    "get_trace_score_analytics_distribution", "get_session_score_analytics_summary",
    "get_session_score_analytics_trend", "get_session_score_analytics_distribution",
    "get_session_score_comparison", "get_trace_score_agreement",
    "get_trace_analytics", "get_session_analytics",  # started_before must be later than started_after
}  # fmt: skip


# A character that Python's `str.strip()` keeps, spelled out: DRF trims a string and refuses it when
# nothing is left, and JSON Schema's `\S` (ECMA-262) disagrees with Python on \x1c-\x1f, \x85, \ufeff.
NOT_BLANK_PATTERN = r"[^\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


class NonBlankTextExtension(OpenApiSerializerFieldExtension):
    """A request string that may not be blank (DRF's default) says so: at least one character, and one
    that is not whitespace when the field trims."""

    target_class = "rest_framework.fields.CharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        field = self.target
        if direction == "request" and not field.allow_blank and "string" in str(schema.get("type")):
            schema.setdefault("minLength", 1)
            if field.trim_whitespace:
                schema.setdefault("pattern", NOT_BLANK_PATTERN)
        return schema


# Query parameters -----------------------------------------------------------------------------------


def _choices(field: forms.ChoiceField) -> list[str]:
    return [str(value) for value, _ in field.choices if value not in ("", None)]


def _string(field: forms.CharField) -> dict:
    schema = {"type": "string"}
    if field.min_length is not None:
        schema["minLength"] = field.min_length
    if field.max_length is not None:
        schema["maxLength"] = field.max_length
    return schema


def field_schema(field: forms.Field) -> dict:
    """The JSON Schema of what a form field accepts in a query string, with its default (`initial`)."""
    schema = _value_schema(field)
    if field.initial is not None and not callable(field.initial):
        schema["default"] = field.initial
    return schema


def _value_schema(field: forms.Field) -> dict:
    if isinstance(field.widget, forms.SelectMultiple) and not isinstance(field, forms.ChoiceField):
        return {"type": "array", "items": {"type": "string"}}
    if isinstance(field, forms.NullBooleanField):
        return {"type": "boolean"}
    if isinstance(field, forms.ChoiceField):
        values = _choices(field)
        return {"type": "boolean"} if sorted(values) == ["false", "true"] else {"type": "string", "enum": values}
    if isinstance(field, forms.UUIDField):
        return {"type": "string", "format": "uuid"}
    if isinstance(field, forms.DateTimeField):
        return {"type": "string", "format": "date-time"}
    if isinstance(field, forms.FloatField):  # before IntegerField, its base class
        return {"type": "number"}
    if isinstance(field, forms.IntegerField):
        bounds = {"minimum": field.min_value, "maximum": field.max_value}
        return {"type": "integer", **{k: v for k, v in bounds.items() if v is not None}}
    if isinstance(field, forms.CharField):
        return _string(field)
    return {"type": "string"}


def _form_fields(source) -> Iterator[tuple[str, forms.Field]]:
    if isinstance(source, type) and issubclass(source, django_filters.FilterSet):
        for name, filter_ in source.base_filters.items():
            yield name, filter_.field
    else:
        yield from source.base_fields.items()


ALLOW_EMPTY = "x-allow-empty"  # drf-spectacular passes only `x-` keys; the hook renames it


def query_parameters(*sources, descriptions: dict[str, str] | None = None) -> list[OpenApiParameter]:
    """The query parameters of forms and filtersets (classes), each with the schema of what its field
    accepts; `descriptions` adds words where the name is not enough."""
    descriptions = descriptions or {}
    parameters = []
    for source in sources:
        for name, field in _form_fields(source):
            schema = field_schema(field)
            parameters.append(
                OpenApiParameter(
                    name,
                    schema,
                    OpenApiParameter.QUERY,
                    required=field.required,
                    description=descriptions.get(name, ""),
                    explode=True if schema["type"] == "array" else None,
                    # An optional form field reads an empty value as "not given".
                    extensions=None if field.required else {ALLOW_EMPTY: True},
                )
            )
    return parameters


# The postprocessing hook --------------------------------------------------------------------------

_NULL = {"type": "null"}
# Keywords about the field rather than its value: they stay outside an `anyOf` with null.
_ANNOTATIONS = {"title", "description", "readOnly", "writeOnly", "default", "deprecated", "example", "examples"}
METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}


def _is_null(schema) -> bool:
    return schema == _NULL or schema == {"enum": [None]}


def nullable_as_any_of(schema: dict) -> dict:
    """`{"type": ["string", "null"], ...}` or `{"oneOf": [X, {"type": "null"}]}` as
    `{"anyOf": [X, {"type": "null"}]}`; a free JSON value that may be null is just `{}` (null is a JSON
    value). drf-spectacular writes `oneOf: [{}, null]`, which null itself fails: it matches both."""
    alternatives = schema.get("oneOf")
    if isinstance(alternatives, list) and any(_is_null(s) for s in alternatives):
        rest = [s for s in alternatives if not _is_null(s)]
        outer = {k: v for k, v in schema.items() if k != "oneOf"}
        if rest == [{}] or not rest:
            return outer
        return {**outer, "anyOf": [*rest, _NULL]}
    types = schema.get("type")
    if isinstance(types, list) and "null" in types:
        others = [t for t in types if t != "null"]
        inner = {k: v for k, v in schema.items() if k not in _ANNOTATIONS and k != "type"}
        inner = {"type": others[0] if len(others) == 1 else others, **inner}
        return {**{k: v for k, v in schema.items() if k in _ANNOTATIONS}, "anyOf": [inner, _NULL]}
    return schema


def _rewrite(node, rewrite):
    """`node` with `rewrite` applied to every dict in it, innermost first."""
    if isinstance(node, list):
        return [_rewrite(item, rewrite) for item in node]
    if isinstance(node, dict):
        return rewrite({key: _rewrite(value, rewrite) for key, value in node.items()})
    return node


def _refs(node) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            yield ref.rsplit("/", 1)[1]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _closure(names: Iterable[str], schemas: dict) -> set[str]:
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in seen and name in schemas:
            seen.add(name)
            todo.extend(_refs(schemas[name]))
    return seen


def _operations(document: dict) -> Iterator[tuple[str, str, dict]]:
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _require_response_fields(document: dict) -> None:
    """Every property of a shape only ever sent (never received) is required: serializers render
    every field, null or not, so a client may rely on each being there."""
    schemas = document["components"]["schemas"]
    operations = [operation for _, _, operation in _operations(document)]
    sent = _closure(_refs([op.get("responses", {}) for op in operations]), schemas)
    received = _closure(_refs([[op.get("requestBody", {}), op.get("parameters", [])] for op in operations]), schemas)
    for name in sent - received:
        properties = schemas[name].get("properties")
        if properties:
            schemas[name]["required"] = list(properties)


def _authenticated(operation: dict) -> bool:
    return any(requirement for requirement in operation.get("security", []))


def error_statuses(operation: dict) -> set[int]:
    """The error statuses an operation can answer, from its shape (credentials, path ids, query,
    body) and `EXTRA_STATUSES`."""
    statuses = set(EXTRA_STATUSES.get(operation.get("operationId", ""), ()))
    parameters = operation.get("parameters", [])
    if _authenticated(operation):
        statuses |= {401, 403, 429}
    if any(parameter["in"] == "path" for parameter in parameters):
        statuses.add(404)
    if parameters or "requestBody" in operation:
        statuses.add(422)
    if "requestBody" in operation:
        statuses |= {400, 413, 415}
    return statuses


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error_response(status: int, operation_id: str) -> dict:
    if status == 422 and operation_id in RULE_OPERATIONS:
        schema, description = {"anyOf": [_ref("HTTPValidationError"), _ref("ErrorDetail")]}, RULE_422_DESCRIPTION
    elif status == 422:
        schema, description = _ref("HTTPValidationError"), ERROR_DESCRIPTIONS[422]
    else:
        schema, description = _ref("ErrorDetail"), ERROR_DESCRIPTIONS[status]
    response = {"description": description, "content": {"application/json": {"schema": schema}}}
    if status == 429:
        response["headers"] = copy.deepcopy(RETRY_AFTER)
    return response


def _allow_empty_values(document: dict) -> None:
    for _, _, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            if parameter.pop(ALLOW_EMPTY, False):
                parameter["allowEmptyValue"] = True


def _add_error_responses(document: dict) -> None:
    schemas = document["components"]["schemas"]
    schemas.update(copy.deepcopy(REFERENCE_SCHEMAS))
    schemas["ErrorDetail"] = copy.deepcopy(ERROR_DETAIL)
    for _, _, operation in _operations(document):
        responses = operation.setdefault("responses", {})
        for status in error_statuses(operation):
            responses.setdefault(str(status), _error_response(status, operation.get("operationId", "")))
        operation["responses"] = dict(sorted(responses.items()))


def postprocess(result: dict, generator, request, public) -> dict:
    """The one postprocessing hook: nullable fields, required response fields, empty query values,
    error responses."""
    result = _rewrite(result, nullable_as_any_of)
    result["info"]["description"] = f"{result['info'].get('description', '')}\n\n{BODY_RULES}".strip()
    result.setdefault("components", {}).setdefault("schemas", {})
    _require_response_fields(result)
    _allow_empty_values(result)
    _add_error_responses(result)
    return result
