"""Query parameters of the operations analytics (`/traces/analytics`, `/sessions/analytics`)."""

import django_filters
from django import forms

from pandaprobe.traces.filters import TagsAnyFilter, TimeFilter
from pandaprobe.traces.models import Trace

METRICS = ["volume", "errors", "latency", "cost", "tokens", "models"]  # the reference's AnalyticsMetric
GRANULARITIES = ["hour", "day", "week"]  # the reference's AnalyticsGranularity


class WindowForm(forms.Form):
    """A time window must run forwards: an empty or reversed one is a mistake, not an empty chart."""

    def clean(self):
        cleaned = super().clean()
        after, before = cleaned.get("started_after"), cleaned.get("started_before")
        if after is not None and before is not None and before <= after:
            self.add_error("started_before", "Must be later than started_after.")
        return cleaned


class AnalyticsTraceFilter(django_filters.FilterSet):
    """The traces an analytics answer is computed from: a required window, and optional filters."""

    started_after = TimeFilter(field_name="started_at", lookup_expr="gte", required=True)
    started_before = TimeFilter(field_name="started_at", lookup_expr="lt", required=True)
    environment = django_filters.CharFilter()
    user_id = django_filters.CharFilter()
    tags = TagsAnyFilter()

    class Meta:
        model = Trace
        fields = []
        form = WindowForm


class GranularityParams(forms.Form):
    # `initial` is the value taken when the parameter is missing or empty (the reference's defaults).
    granularity = forms.ChoiceField(choices=[(g, g) for g in GRANULARITIES], required=False, initial="day")


class TraceAnalyticsParams(GranularityParams):
    metric = forms.ChoiceField(choices=[(m, m) for m in METRICS], required=False, initial="volume")
