"""Query-string filters for scores (one place for each rule; a bad value is a 422 naming it)."""

import django_filters
from django import forms
from django.db.models import Exists, OuterRef

from pandaprobe.traces.filters import TimeFilter
from pandaprobe.traces.models import Trace

from .models import (
    EvalRun,
    EvalRunStatus,
    ScoreConfig,
    ScoreDataType,
    ScoreSource,
    ScoreStatus,
    SessionScore,
    TraceScore,
)

EXPORT_FORMATS = [("csv", "csv"), ("jsonl", "jsonl")]


class ScoreFilter(django_filters.FilterSet):
    """What trace and session scores are both filtered by. `date_from` is inclusive and `date_to`
    exclusive, on created_at."""

    name = django_filters.CharFilter()
    source = django_filters.ChoiceFilter(choices=ScoreSource.choices)
    status = django_filters.ChoiceFilter(choices=ScoreStatus.choices)
    eval_run_id = django_filters.UUIDFilter()
    date_from = TimeFilter(field_name="created_at", lookup_expr="gte")
    date_to = TimeFilter(field_name="created_at", lookup_expr="lt")


class TraceScoreFilter(ScoreFilter):
    trace_id = django_filters.UUIDFilter()
    data_type = django_filters.ChoiceFilter(choices=ScoreDataType.choices)
    # The trace's environment now, not the one stored with the score when it was made: a trace moved
    # from staging to production takes its scores along.
    environment = django_filters.CharFilter(field_name="trace__environment")

    class Meta:
        model = TraceScore
        fields = []


class ExportParams(forms.Form):
    format = forms.ChoiceField(choices=EXPORT_FORMATS)


class SessionScoreFilter(ScoreFilter):
    session_id = django_filters.CharFilter()

    class Meta:
        model = SessionScore
        fields = []


class ScoreConfigFilter(django_filters.FilterSet):
    # No longer than the column (SQLite refuses LIKE patterns over 50,000 bytes).
    name = django_filters.CharFilter(
        lookup_expr="icontains", max_length=ScoreConfig._meta.get_field("name").max_length
    )
    data_type = django_filters.ChoiceFilter(choices=ScoreDataType.choices)
    # "true" or "false", and nothing else: a BooleanFilter would ignore `is_archived=maybe`.
    is_archived = django_filters.TypedChoiceFilter(
        choices=[("true", "true"), ("false", "false")], coerce=lambda value: value == "true"
    )

    class Meta:
        model = ScoreConfig
        fields = []


class TraceScorePresenceFilter(django_filters.FilterSet):
    """The explorer's "has score X" / "missing score X": a SUCCESS score of that name, or none."""

    has_score = django_filters.CharFilter(method="filter_presence", max_length=255)
    missing_score = django_filters.CharFilter(method="filter_presence", max_length=255)

    class Meta:
        model = Trace
        fields = []

    def filter_presence(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        scored = Exists(
            TraceScore.objects.filter(
                trace=OuterRef("pk"), project=OuterRef("project"), name=value, status=ScoreStatus.SUCCESS
            )
        )
        return queryset.filter(scored) if name == "has_score" else queryset.exclude(scored)


class EvalRunFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=EvalRunStatus.choices)

    class Meta:
        model = EvalRun
        fields = []


class DeleteRunParams(forms.Form):
    # `true` or `false` only: a form's BooleanField would take any other text as true.
    delete_scores = forms.TypedChoiceField(
        choices=[("true", "true"), ("false", "false")], coerce=lambda value: value == "true",
        required=False, empty_value=False,
    )  # fmt: skip
