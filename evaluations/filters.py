"""Query-string filters for scores (one place for each rule; a bad value is a 422 naming it)."""

import django_filters
from django import forms

from .models import ScoreDataType, ScoreSource, ScoreStatus, TraceScore

EXPORT_FORMATS = [("csv", "csv"), ("jsonl", "jsonl")]


class TraceScoreFilter(django_filters.FilterSet):
    """The list page's filters; `date_from` is inclusive and `date_to` exclusive, on created_at."""

    trace_id = django_filters.UUIDFilter()
    name = django_filters.CharFilter()
    source = django_filters.ChoiceFilter(choices=ScoreSource.choices)
    status = django_filters.ChoiceFilter(choices=ScoreStatus.choices)
    data_type = django_filters.ChoiceFilter(choices=ScoreDataType.choices)
    eval_run_id = django_filters.UUIDFilter()
    environment = django_filters.CharFilter()
    date_from = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    date_to = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = TraceScore
        fields = []


class ExportParams(forms.Form):
    format = forms.ChoiceField(choices=EXPORT_FORMATS)
