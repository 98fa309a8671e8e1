"""Query parameters of the score analytics (one place for each rule; a bad value is a 422 naming it).

Filters (django-filter) narrow the scores; the forms beside them hold the options that shape the
answer (granularity, buckets, sort order, limit, threshold). `date_from` is inclusive and `date_to`
exclusive, on the score's created_at, as in the score lists.
"""

import django_filters
from django import forms

from evaluations.models import ScoreSource, SessionScore, TraceScore
from pandaprobe.traces.filters import SORT_ORDERS, TimeFilter

NAME_LENGTH = TraceScore._meta.get_field("name").max_length
GRANULARITIES = [("hour", "hour"), ("day", "day"), ("week", "week")]
DEFAULT_GRANULARITY = "day"
DEFAULT_BUCKETS = 10
DEFAULT_HISTORY_LIMIT = 50
DEFAULT_SORT_ORDER = "asc"  # worst first: the leaderboard is for finding problems


class DateRangeForm(forms.Form):
    """A range that does not end before it starts (an empty one, from == to, is allowed)."""

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error(
                "date_to", forms.ValidationError("date_to is before date_from.", code="date_range")
            )
        return cleaned


def metric_name_filter(*, required: bool) -> django_filters.CharFilter:
    return django_filters.CharFilter(field_name="name", required=required, max_length=NAME_LENGTH)


class ScoreRangeFilter(django_filters.FilterSet):
    date_from = TimeFilter(field_name="created_at", lookup_expr="gte")
    date_to = TimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        form = DateRangeForm


class TraceScoreAnalyticsFilter(ScoreRangeFilter):
    """The trace-score summary's filters. `environment` is the trace's current one, as in the score
    list (evaluations/filters.py): a trace moved to production takes its scores along."""

    source = django_filters.ChoiceFilter(choices=ScoreSource.choices)
    environment = django_filters.CharFilter(field_name="trace__environment", max_length=255)

    class Meta(ScoreRangeFilter.Meta):
        model = TraceScore
        fields = []


class TraceMetricFilter(TraceScoreAnalyticsFilter):
    metric_name = metric_name_filter(required=True)


class AgreementFilter(ScoreRangeFilter):
    """Which scores enter an agreement; the two score names are `AgreementParams`."""

    environment = django_filters.CharFilter(field_name="trace__environment", max_length=255)

    class Meta(ScoreRangeFilter.Meta):
        model = TraceScore
        fields = []


class SessionScoreAnalyticsFilter(ScoreRangeFilter):
    source = django_filters.ChoiceFilter(choices=ScoreSource.choices)

    class Meta(ScoreRangeFilter.Meta):
        model = SessionScore
        fields = []


class SessionMetricFilter(SessionScoreAnalyticsFilter):
    metric_name = metric_name_filter(required=True)


class SessionHistoryFilter(django_filters.FilterSet):
    metric_name = metric_name_filter(required=False)

    class Meta:
        model = SessionScore
        fields = []


class SessionComparisonFilter(django_filters.FilterSet):
    metric_name = metric_name_filter(required=True)

    class Meta:
        model = SessionScore
        fields = []


class TrendParams(forms.Form):
    granularity = forms.ChoiceField(choices=GRANULARITIES, required=False, initial=DEFAULT_GRANULARITY)


class DistributionParams(forms.Form):
    buckets = forms.IntegerField(min_value=1, max_value=100, required=False, initial=DEFAULT_BUCKETS)


class HistoryParams(forms.Form):
    limit = forms.IntegerField(min_value=1, max_value=200, required=False, initial=DEFAULT_HISTORY_LIMIT)


class ComparisonParams(forms.Form):
    sort_order = forms.ChoiceField(choices=SORT_ORDERS, required=False, initial=DEFAULT_SORT_ORDER)


class AgreementParams(forms.Form):
    metric_name = forms.CharField(max_length=NAME_LENGTH)
    other_metric_name = forms.CharField(max_length=NAME_LENGTH, required=False)
    # Any finite number (Django's FloatField refuses inf and nan): a config's scale may be 1-5.
    threshold = forms.FloatField(required=False)


def option(form: forms.Form, name: str):
    """A validated option, or its default (`initial`) when it was not sent."""
    value = form.cleaned_data.get(name)
    return form.fields[name].initial if value in (None, "") else value
