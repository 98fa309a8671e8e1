"""Trace, span and session endpoints: parse, call one service or selector, shape the output."""

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from pandaprobe.api.errors import validate_all, validated, validated_model
from pandaprobe.api.pagination import (
    PAGE_PARAMETERS,
    envelope_schema,
    page_parameters,
    page_params,
    page_response,
    paginate,
)
from pandaprobe.api.paths import ApiView
from pandaprobe.api.schema import query_parameters

from .. import selectors, services
from ..filters import SessionGroupParams, SessionTraceFilter, TraceFilter
from . import schemas
from . import serializers as s

TraceListPage = envelope_schema(s.TraceListItemSerializer, "PaginatedTraceListItem")
SessionPage = envelope_schema(s.SessionSummarySerializer, "PaginatedSessionSummary")


class TraceCollectionView(APIView):
    @extend_schema(
        operation_id="ingest_trace",
        request=schemas.TraceCreate,
        responses={202: s.TraceAcceptedSerializer},
        tags=["traces"],
    )
    def post(self, request):
        data = validated_model(schemas.TraceCreate, request.data)
        trace = services.trace_ingest(access=request.auth, data=data)
        body = {"trace_id": str(trace.trace_id), "task_id": str(uuid.uuid4())}
        return Response(body, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="list_traces",
        parameters=[
            *PAGE_PARAMETERS,
            *query_parameters(
                TraceFilter,
                descriptions={
                    "tags": "Traces with ANY of these tags",
                    "name": "Substring of the name (case-insensitive)",
                    "started_before": "Exclusive",
                },
            ),
        ],
        responses=TraceListPage,
        tags=["traces"],
    )
    def get(self, request):
        (limit, offset), traces = validate_all(
            lambda: page_params(request.query_params),
            lambda: selectors.trace_list(project=request.auth.project, params=request.query_params),
        )
        page = paginate(traces, limit=limit, offset=offset)
        return page_response(page, s.TraceListItemSerializer)


class TraceDetailView(ApiView):
    @extend_schema(operation_id="get_trace", responses=s.TraceResponseSerializer, tags=["traces"])
    def get(self, request, trace_id):
        trace = selectors.trace_get(project=request.auth.project, trace_id=trace_id)
        return Response(s.TraceResponseSerializer(trace).data)

    @extend_schema(
        operation_id="update_trace",
        request=schemas.TraceUpdate,
        responses=s.TraceResponseSerializer,
        tags=["traces"],
    )
    def patch(self, request, trace_id):
        trace = selectors.trace_get_bare(project=request.auth.project, trace_id=trace_id)
        data = validated_model(schemas.TraceUpdate, request.data)
        services.trace_update(access=request.auth, trace=trace, data=data)
        trace = selectors.trace_get(project=request.auth.project, trace_id=trace_id)
        return Response(s.TraceResponseSerializer(trace).data)

    @extend_schema(operation_id="delete_trace", responses={204: None}, tags=["traces"])
    def delete(self, request, trace_id):
        trace = selectors.trace_get_bare(project=request.auth.project, trace_id=trace_id)
        services.trace_delete(access=request.auth, trace=trace)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SpanCollectionView(ApiView):
    @extend_schema(
        operation_id="add_spans",
        request=schemas.SpanList,
        responses={201: s.SpansAcceptedSerializer},
        tags=["traces"],
    )
    def post(self, request, trace_id):
        trace = selectors.trace_get_bare(project=request.auth.project, trace_id=trace_id)
        spans_data = validated_model(schemas.SpanList, request.data)
        spans = services.spans_add(access=request.auth, trace=trace, spans_data=spans_data)
        return Response({"span_ids": [str(span.span_id) for span in spans]}, status=status.HTTP_201_CREATED)


class SpanDetailView(ApiView):
    @extend_schema(
        operation_id="update_span",
        request=schemas.SpanUpdate,
        responses=s.SpanResponseSerializer,
        tags=["traces"],
    )
    def patch(self, request, trace_id, span_id):
        span = selectors.span_get(project=request.auth.project, trace_id=trace_id, span_id=span_id)
        data = validated_model(schemas.SpanUpdate, request.data)
        span = services.span_update(access=request.auth, span=span, data=data)
        return Response(s.SpanResponseSerializer(span).data)


class TraceBatchDeleteView(APIView):
    @extend_schema(
        operation_id="batch_delete_traces",
        request=s.TraceIdsSerializer,
        responses={200: s.DeletedSerializer},
        tags=["traces"],
    )
    def post(self, request):
        data = validated(s.TraceIdsSerializer, request.data)
        deleted = services.traces_delete(access=request.auth, trace_ids=data["trace_ids"])
        return Response({"deleted": deleted})


class TraceBatchTagsView(APIView):
    @extend_schema(
        operation_id="batch_tags_traces",
        request=s.BatchTagsSerializer,
        responses={200: s.UpdatedSerializer},
        tags=["traces"],
    )
    def post(self, request):
        data = validated(s.BatchTagsSerializer, request.data)
        updated = services.traces_retag(access=request.auth, **data)
        return Response({"updated": updated})


class SessionCollectionView(APIView):
    @extend_schema(
        operation_id="list_sessions",
        parameters=[
            *PAGE_PARAMETERS,
            *query_parameters(
                SessionTraceFilter,
                SessionGroupParams,
                descriptions={
                    "tags": "Sessions with a trace with ANY of these tags",
                    "query": "Substring of session_id (case-insensitive)",
                    "started_before": "Exclusive",
                },
            ),
        ],
        responses=SessionPage,
        tags=["sessions"],
    )
    def get(self, request):
        (limit, offset), _ = validate_all(
            lambda: page_params(request.query_params),
            lambda: selectors.session_params_check(request.query_params),
        )
        page = selectors.session_list(
            project=request.auth.project, params=request.query_params, limit=limit, offset=offset
        )
        return page_response(page, s.SessionSummarySerializer)


class SessionDetailView(ApiView):
    @extend_schema(
        operation_id="get_session",
        parameters=[s.SESSION_ID_PATH, *page_parameters(max_limit=1000, default_limit=200)],
        responses=s.SessionDetailSerializer,
        tags=["sessions"],
    )
    def get(self, request, session_id):
        limit, offset = page_params(request.query_params, max_limit=1000, default_limit=200)
        session = selectors.session_get(
            project=request.auth.project, session_id=session_id, limit=limit, offset=offset
        )
        return Response(s.SessionDetailSerializer(session).data)

    @extend_schema(
        operation_id="delete_session",
        parameters=[s.SESSION_ID_PATH],
        responses={200: s.DeletedSerializer},
        tags=["sessions"],
    )
    def delete(self, request, session_id):
        deleted = services.session_delete(access=request.auth, session_id=session_id)
        if not deleted:
            raise NotFound("Session not found")
        return Response({"deleted": deleted})
