"""Limit/offset pagination with the `{items, total, limit, offset}` envelope of the reference API."""

import functools

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.response import Response

from .errors import RequestValidationError

MAX_OFFSET = 10**9


@functools.cache
def _page_params_serializer(max_limit: int, default_limit: int) -> type[serializers.Serializer]:
    return type(
        "PageParams",
        (serializers.Serializer,),
        {
            "limit": serializers.IntegerField(
                min_value=1, max_value=max_limit, default=default_limit, help_text="Page size"
            ),
            # Bounded so that OFFSET + LIMIT stays a valid 64-bit integer in every database.
            "offset": serializers.IntegerField(
                min_value=0, max_value=MAX_OFFSET, default=0, help_text="Items to skip"
            ),
        },
    )


def page_parameters(*, max_limit: int = 200, default_limit: int = 50) -> list:
    """`limit` and `offset` for `extend_schema(parameters=...)`: the serializer that validates them,
    so the document's bounds are the checked ones."""
    return [_page_params_serializer(max_limit, default_limit)]


# The OpenAPI description of `limit` and `offset` on every list endpoint.
PAGE_PARAMETERS = page_parameters()


def page_params(query_params, *, max_limit: int = 200, default_limit: int = 50) -> tuple[int, int]:
    """Validated (limit, offset); a bad value raises a 422 naming `limit` or `offset`."""
    data = {k: v for k, v in query_params.items() if k in ("limit", "offset")}
    params = _page_params_serializer(max_limit, default_limit)(data=data)
    if not params.is_valid():
        raise RequestValidationError.from_drf("query", params.errors)
    return params.validated_data["limit"], params.validated_data["offset"]


def paginate(queryset: QuerySet, *, limit: int, offset: int, total: int | None = None) -> dict:
    """Page of a queryset (one COUNT and one SELECT; nested rows come from its prefetches)."""
    return {
        "items": list(queryset[offset : offset + limit]),
        "total": queryset.count() if total is None else total,
        "limit": limit,
        "offset": offset,
    }


def envelope_schema(item_serializer, name: str):
    """An OpenAPI component for the envelope around `item_serializer`."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "items": item_serializer(many=True),
            "total": serializers.IntegerField(),
            "limit": serializers.IntegerField(),
            "offset": serializers.IntegerField(),
        },
    )


def page_response(page: dict, item_serializer) -> Response:
    """The envelope as a response, its items shaped by `item_serializer`."""
    return Response({**page, "items": item_serializer(page["items"], many=True).data})
