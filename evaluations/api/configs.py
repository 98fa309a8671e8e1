"""Score-config endpoints: any member reads, admins (and API keys) write."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from pandaprobe.api.errors import validated
from pandaprobe.api.fields import StrictBooleanField, StrictCharField, StrictFloatField
from pandaprobe.api.pagination import PAGE_PARAMETERS, envelope_schema, page_params, page_response, paginate
from pandaprobe.api.paths import ApiView
from pandaprobe.api.schema import query_parameters

from ..filters import ScoreConfigFilter
from ..models import ScoreDataType
from ..selectors import annotations as selectors
from ..services import configs as services

TAGS = ["score-configs"]
STEP_HELP = (
    "NUMERIC only: a score's value must be min_value (else max_value, else 0) plus a whole number of "
    "steps; it must divide the range. Null: any value in the range."
)


class ScoreConfigResponseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    project_id = serializers.UUIDField()
    name = serializers.CharField()
    data_type = serializers.ChoiceField(choices=ScoreDataType.choices)
    min_value = serializers.FloatField(allow_null=True)
    max_value = serializers.FloatField(allow_null=True)
    step = serializers.FloatField(allow_null=True, help_text=STEP_HELP)
    categories = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField(allow_blank=True)
    is_archived = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CreateScoreConfigRequestSerializer(serializers.Serializer):
    """Shape only; the rules (range, labels per data type) are the service's, shared with admin."""

    name = StrictCharField(max_length=255)
    data_type = serializers.ChoiceField(choices=ScoreDataType.choices, default=ScoreDataType.NUMERIC)
    min_value = StrictFloatField(required=False, allow_null=True)
    max_value = StrictFloatField(required=False, allow_null=True)
    step = StrictFloatField(required=False, allow_null=True, help_text=STEP_HELP)
    categories = serializers.ListField(child=StrictCharField(), required=False, allow_null=True)
    description = StrictCharField(required=False, allow_blank=True, default="")


class UpdateScoreConfigRequestSerializer(serializers.Serializer):
    name = StrictCharField(max_length=255, required=False)
    min_value = StrictFloatField(required=False, allow_null=True)
    max_value = StrictFloatField(required=False, allow_null=True)
    step = StrictFloatField(required=False, allow_null=True, help_text=STEP_HELP)
    categories = serializers.ListField(child=StrictCharField(), required=False, allow_null=True)
    description = StrictCharField(required=False, allow_blank=True)
    is_archived = StrictBooleanField(required=False)

    def to_internal_value(self, data):
        # A config's type is fixed: say so rather than silently ignoring it.
        if isinstance(data, dict) and "data_type" in data:
            raise serializers.ValidationError({"data_type": "cannot be changed; create a new config"})
        return super().to_internal_value(data)


ScoreConfigPage = envelope_schema(ScoreConfigResponseSerializer, "PaginatedScoreConfigResponse")


class ScoreConfigCollectionView(APIView):
    @extend_schema(
        operation_id="list_score_configs",
        parameters=[
            *query_parameters(
                ScoreConfigFilter, descriptions={"name": "Substring of the name (case-insensitive)"}
            ),
            *PAGE_PARAMETERS,
        ],
        responses=ScoreConfigPage,
        tags=TAGS,
    )
    def get(self, request):
        limit, offset = page_params(request.query_params)
        configs = selectors.score_config_list(project=request.auth.project, params=request.query_params)
        page = paginate(configs, limit=limit, offset=offset)
        return page_response(page, ScoreConfigResponseSerializer)

    @extend_schema(
        operation_id="create_score_config",
        request=CreateScoreConfigRequestSerializer,
        responses={201: ScoreConfigResponseSerializer},
        tags=TAGS,
    )
    def post(self, request):
        data = validated(CreateScoreConfigRequestSerializer, request.data)
        config = services.score_config_create(access=request.auth, **data)
        return Response(ScoreConfigResponseSerializer(config).data, status=status.HTTP_201_CREATED)


class ScoreConfigDetailView(ApiView):
    @extend_schema(operation_id="get_score_config", responses=ScoreConfigResponseSerializer, tags=TAGS)
    def get(self, request, config_id):
        config = selectors.score_config_get(project=request.auth.project, config_id=config_id)
        return Response(ScoreConfigResponseSerializer(config).data)

    @extend_schema(
        operation_id="update_score_config",
        request=UpdateScoreConfigRequestSerializer,
        responses=ScoreConfigResponseSerializer,
        tags=TAGS,
    )
    def patch(self, request, config_id):
        config = selectors.score_config_get(project=request.auth.project, config_id=config_id)
        changes = validated(UpdateScoreConfigRequestSerializer, request.data)
        config = services.score_config_update(access=request.auth, config=config, changes=changes)
        return Response(ScoreConfigResponseSerializer(config).data)

    @extend_schema(operation_id="delete_score_config", responses={204: None}, tags=TAGS)
    def delete(self, request, config_id):
        config = selectors.score_config_get(project=request.auth.project, config_id=config_id)
        services.score_config_delete(access=request.auth, config=config)
        return Response(status=status.HTTP_204_NO_CONTENT)
