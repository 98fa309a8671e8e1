"""Session-score endpoints, by the same rules as trace scores (same services underneath)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from pandaprobe.api.errors import validated
from pandaprobe.api.fields import StrictCharField
from pandaprobe.api.pagination import PAGE_PARAMETERS, envelope_schema, page_params, page_response, paginate
from pandaprobe.api.paths import ApiView
from pandaprobe.api.schema import query_parameters
from pandaprobe.api.views import SharedRouteView
from pandaprobe.traces.api.serializers import SESSION_ID_PATH

from ..filters import SessionScoreFilter
from ..models import ScoreDataType, ScoreSource, ScoreStatus
from ..selectors import annotations as annotation_selectors
from ..selectors import sessions as session_selectors
from ..services import session_scores as services
from .serializers import CreateScoreRequestSerializer, UpdateTraceScoreRequestSerializer

TAGS = ["session-scores"]


class CreateSessionScoreRequestSerializer(CreateScoreRequestSerializer):
    session_id = StrictCharField(max_length=255, help_text="Session to attach the score to.")


class UpdateSessionScoreRequestSerializer(UpdateTraceScoreRequestSerializer):
    """Same editable fields as a trace score: value, reason, metadata."""


class SessionScoreResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    session_id = serializers.CharField()
    project_id = serializers.UUIDField()
    name = serializers.CharField()
    data_type = serializers.ChoiceField(choices=ScoreDataType.choices)
    value = serializers.CharField(allow_null=True)
    source = serializers.ChoiceField(choices=ScoreSource.choices)
    status = serializers.ChoiceField(choices=ScoreStatus.choices)
    eval_run_id = serializers.UUIDField(allow_null=True)
    author_user_id = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_null=True)
    metadata = serializers.DictField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


SessionScorePage = envelope_schema(SessionScoreResponseSerializer, "PaginatedSessionScoreResponse")


class SessionScoreCollectionView(APIView):
    @extend_schema(
        operation_id="create_session_score",
        request=CreateSessionScoreRequestSerializer,
        responses={201: SessionScoreResponseSerializer},
        tags=TAGS,
    )
    def post(self, request):
        data = validated(CreateSessionScoreRequestSerializer, request.data)
        config = annotation_selectors.score_config_for_input(
            project=request.auth.project, config_id=data.pop("config_id", None)
        )
        data.setdefault("data_type", config.data_type if config else ScoreDataType.NUMERIC)
        score = services.session_score_create(access=request.auth, config=config, **data)
        return Response(SessionScoreResponseSerializer(score).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="list_session_scores",
        parameters=[
            *query_parameters(
                SessionScoreFilter,
                descriptions={
                    "session_id": "Filter by session ID",
                    "name": "Filter by metric name",
                    "date_from": "Created on or after",
                    "date_to": "Created before (exclusive)",
                },
            ),
            *PAGE_PARAMETERS,
        ],
        responses=SessionScorePage,
        tags=TAGS,
    )
    def get(self, request):
        limit, offset = page_params(request.query_params)
        scores = session_selectors.session_scores_list(
            project=request.auth.project, params=request.query_params
        )
        page = paginate(scores, limit=limit, offset=offset)
        return page_response(page, SessionScoreResponseSerializer)


class SessionScoreDetailView(ApiView):
    """PATCH and DELETE of one session score, by score id (reached through
    `SessionScoresForSessionView`; its own URL pattern is never matched and documents them)."""

    @extend_schema(
        operation_id="update_session_score",
        description="Edit a session score by hand: it becomes an ANNOTATION with status SUCCESS.",
        request=UpdateSessionScoreRequestSerializer,
        responses=SessionScoreResponseSerializer,
        tags=TAGS,
    )
    def patch(self, request, score_id):
        score = session_selectors.session_score_get(project=request.auth.project, score_id=score_id)
        changes = validated(UpdateSessionScoreRequestSerializer, request.data)
        score = services.session_score_update(access=request.auth, score=score, changes=changes)
        return Response(SessionScoreResponseSerializer(score).data)

    @extend_schema(
        operation_id="delete_session_score",
        description="Delete a session score; its history stays readable.",
        responses={204: None},
        tags=TAGS,
    )
    def delete(self, request, score_id):
        score = session_selectors.session_score_get(project=request.auth.project, score_id=score_id)
        services.session_score_delete(access=request.auth, score=score)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionScoresForSessionView(SharedRouteView):
    """GET takes a SESSION id (all its scores); PATCH and DELETE on the same URL take a SCORE id, as
    in the reference API: those two are handed to `SessionScoreDetailView`."""

    delegate = SessionScoreDetailView
    delegate_kwarg = "score_id"

    @extend_schema(
        operation_id="get_scores_for_session",
        description="Every score of the session, newest first (404 when the project has no such session).",
        parameters=[SESSION_ID_PATH],
        responses=SessionScoreResponseSerializer(many=True),
        tags=TAGS,
    )
    def get(self, request, session_id):
        scores = session_selectors.session_scores_for_session(
            project=request.auth.project, session_id=session_id
        )
        return Response(SessionScoreResponseSerializer(scores, many=True).data)
