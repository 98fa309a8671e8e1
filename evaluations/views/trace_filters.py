"""The trace explorer's filter form, which the queue builder shows too: one template
(`evaluations/includes/trace_filters.html`), one context, one filter (`ExplorerFilter`)."""

from django.http import QueryDict

from pandaprobe.traces.models import TraceStatus

from ..filters import RANGE_CUSTOM
from ..selectors.annotations import explorer_suggestions

RANGE_LABELS = {
    RANGE_CUSTOM: "custom dates",
    "1h": "last hour",
    "24h": "last 24 hours",
    "7d": "last 7 days",
    "30d": "last 30 days",
}


def unprefixed(data: QueryDict, prefix: str) -> QueryDict:
    """The explorer's parameters among a form's fields named `<prefix><parameter>` (the queue
    builder's form also has a `name`: the queue's)."""
    params = QueryDict(mutable=True)
    for key in data:
        if key.startswith(prefix):
            params.setlist(key.removeprefix(prefix), data.getlist(key))
    return params


def trace_filter_form(
    *, project, query: QueryDict, params: QueryDict, errors: dict, prefix: str = ""
) -> dict:
    """The include's context: the values as typed (`query`) and as resolved (`params`, from
    `explorer_params`: a preset's dates), the errors by parameter, the choices and the suggestions
    of the environment and user boxes (one query)."""
    suggestions = explorer_suggestions(project=project)
    return {
        "prefix": prefix,
        "values": params,
        "tags_text": ", ".join(params.getlist("tags")),
        "range": query.get("range") or RANGE_CUSTOM,
        "ranges": list(RANGE_LABELS.items()),
        "selected_ids": params.getlist("trace_ids"),
        "errors": errors,
        "statuses": TraceStatus.values,
        "environments": suggestions.environments,
        "user_ids": suggestions.user_ids,
    }
