"""Trace-score endpoints: parse, call one service or selector, shape the output."""

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from pandaprobe.api.errors import validated
from pandaprobe.api.pagination import PAGE_PARAMETERS, envelope_schema, page_params, page_response, paginate
from pandaprobe.api.paths import ApiView
from pandaprobe.api.schema import query_parameters
from pandaprobe.api.views import SharedRouteView
from pandaprobe.projects.access import Action

from ..filters import ExportParams, TraceScoreFilter
from ..models import ScoreDataType, ScoreEvent
from ..selectors import scores as selectors
from ..selectors.annotations import score_config_for_input
from ..services import scores as services
from . import serializers as s
from .export import CONTENT_TYPES, export_chunks

TraceScorePage = envelope_schema(s.TraceScoreResponseSerializer, "PaginatedTraceScoreResponse")
FILTER_DESCRIPTIONS = {
    "trace_id": "Filter by trace UUID",
    "name": "Filter by metric name (exact match)",
    "eval_run_id": "Filter by eval run UUID",
    "environment": "Filter by trace environment (exact match)",
    "date_from": "Scores created on or after",
    "date_to": "Scores created before (exclusive)",
}
TAGS = ["trace-scores"]


class TraceScoreCollectionView(APIView):
    @extend_schema(
        operation_id="create_trace_score",
        request=s.CreateTraceScoreRequestSerializer,
        responses={201: s.TraceScoreResponseSerializer},
        tags=TAGS,
    )
    def post(self, request):
        data = validated(s.CreateTraceScoreRequestSerializer, request.data)
        config = score_config_for_input(project=request.auth.project, config_id=data.pop("config_id", None))
        data.setdefault("data_type", config.data_type if config else ScoreDataType.NUMERIC)
        score = services.trace_score_create(access=request.auth, config=config, **data)
        return Response(s.TraceScoreResponseSerializer(score).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="list_trace_scores",
        parameters=[*query_parameters(TraceScoreFilter, descriptions=FILTER_DESCRIPTIONS), *PAGE_PARAMETERS],
        responses=TraceScorePage,
        tags=TAGS,
    )
    def get(self, request):
        limit, offset = page_params(request.query_params)
        scores = selectors.trace_scores_list(project=request.auth.project, params=request.query_params)
        page = paginate(scores, limit=limit, offset=offset, total=selectors.exact_count(scores))
        return page_response(page, s.TraceScoreResponseSerializer)


class TraceScoreExportView(APIView):
    @extend_schema(
        operation_id="export_trace_scores",
        parameters=query_parameters(ExportParams, TraceScoreFilter, descriptions=FILTER_DESCRIPTIONS),
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="One row per score"),
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description="One object a line"),
        },
        tags=TAGS,
    )
    def get(self, request):
        fmt = request.query_params.get("format")
        rows = selectors.trace_scores_export(project=request.auth.project, params=request.query_params)
        response = StreamingHttpResponse(export_chunks(rows, fmt), content_type=CONTENT_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="trace-scores.{fmt}"'
        return response

    def perform_content_negotiation(self, request, force=False):
        # The file is not a DRF rendering; errors stay JSON whatever the client accepts.
        return super().perform_content_negotiation(request, force=True)


class TraceScoreDetailView(ApiView):
    """PATCH and DELETE of one score, by score id (reached through `TraceScoresForTraceView`)."""

    @extend_schema(
        operation_id="update_trace_score",
        description="Edit a score by hand: it becomes an ANNOTATION with status SUCCESS.",
        request=s.UpdateTraceScoreRequestSerializer,
        responses=s.TraceScoreResponseSerializer,
        tags=TAGS,
    )
    def patch(self, request, score_id):
        score = selectors.trace_score_get(project=request.auth.project, score_id=score_id)
        changes = validated(s.UpdateTraceScoreRequestSerializer, request.data)
        score = services.trace_score_update(access=request.auth, score=score, changes=changes)
        return Response(s.TraceScoreResponseSerializer(score).data)

    @extend_schema(
        operation_id="delete_trace_score",
        description="Delete a score; its history stays readable.",
        responses={204: None},
        tags=TAGS,
    )
    def delete(self, request, score_id):
        score = selectors.trace_score_get(project=request.auth.project, score_id=score_id)
        services.trace_score_delete(access=request.auth, score=score)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TraceScoresForTraceView(SharedRouteView):
    """GET /trace-scores/{id} takes a TRACE id, while PATCH and DELETE on the same URL take a SCORE
    id (the reference API's route clash): those two methods are handed to `TraceScoreDetailView`."""

    delegate = TraceScoreDetailView
    delegate_kwarg = "score_id"

    @extend_schema(
        operation_id="get_scores_for_trace",
        description="The latest score of each name on the trace (newest created_at; ties: higher id).",
        responses=s.TraceScoreResponseSerializer(many=True),
        tags=TAGS,
    )
    def get(self, request, trace_id):
        scores = selectors.trace_scores_overview(project=request.auth.project, trace_id=trace_id)
        return Response(s.TraceScoreResponseSerializer(scores, many=True).data)


class TraceScoreHistoryView(ApiView):
    @extend_schema(
        operation_id="get_trace_score_history",
        description="Every create, edit and delete of the score, oldest first. A deleted score's "
        "history is readable by project admins and API keys only.",
        responses=s.ScoreEventSerializer(many=True),
        tags=TAGS,
    )
    def get(self, request, score_id):
        events = selectors.score_history(
            project=request.auth.project,
            score_id=score_id,
            target=ScoreEvent.Target.TRACE,
            include_deleted=request.auth.can(Action.SCORE_HISTORY_DELETED),
        )
        return Response(s.ScoreEventSerializer(events, many=True).data)
