"""Forms of the annotation pages. They parse input only: the value rules live in the services."""

import re
import uuid
from dataclasses import dataclass, field

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils.html import format_html

from .filters import ExplorerFilter, UUIDListField
from .models import ScoreConfig, ScoreDataType
from .services.queues import ReviewInput
from .services.values import numeric_range

FREE_PREFIX = "free:"
CONFIG_PREFIX = "config:"


@dataclass(frozen=True)
class ScoreKind:
    """What is being scored: a project's score config, or a free name of some data type."""

    key: str
    label: str
    data_type: str
    config: ScoreConfig | None = None
    min_value: float | None = None
    max_value: float | None = None
    categories: list[str] = field(default_factory=list)

    @property
    def is_free(self) -> bool:
        return self.config is None

    @property
    def has_range(self) -> bool:
        return self.min_value is not None and self.max_value is not None


def _range_of(data_type: str, config: ScoreConfig | None) -> tuple[float | None, float | None]:
    """What the value box offers: the range `validate_score_value` applies, for NUMERIC only."""
    return numeric_range(config) if data_type == ScoreDataType.NUMERIC else (None, None)


def _config_kind(config: ScoreConfig) -> ScoreKind:
    low, high = _range_of(config.data_type, config)
    return ScoreKind(
        key=f"{CONFIG_PREFIX}{config.pk}",
        label=f"{config.name} ({config.data_type.lower()})",
        data_type=config.data_type,
        config=config,
        min_value=low,
        max_value=high,
        categories=[str(c) for c in config.categories or []],
    )


def _free_kind(data_type: str) -> ScoreKind:
    low, high = _range_of(data_type, None)
    return ScoreKind(
        key=f"{FREE_PREFIX}{data_type}",
        label=f"Free name ({data_type.lower()})",
        data_type=data_type,
        min_value=low,
        max_value=high,
    )


def score_kinds(configs: list[ScoreConfig]) -> list[ScoreKind]:
    """The choices of the scoring form: every active config, then a free name of each type."""
    return [_config_kind(config) for config in configs] + [_free_kind(t) for t in ScoreDataType.values]


def pick_kind(kinds: list[ScoreKind], key: str | None) -> ScoreKind:
    """The kind named by `key`, else the first (a config when the project has any)."""
    return next((kind for kind in kinds if kind.key == key), kinds[0])


class ScoreForm(forms.Form):
    """Score a trace or a session: a config or a free name, a value, a reason."""

    kind = forms.ChoiceField(label="Score")
    name = forms.CharField(required=False, max_length=255)
    value = forms.CharField(required=False, max_length=2000, strip=True)
    reason = forms.CharField(required=False, max_length=10000, widget=forms.Textarea(attrs={"rows": 3}))
    # Set when the reason box was shown filled in: then an emptied box clears the reason; otherwise
    # an empty box leaves an edited score's reason as it was (PATCH semantics).
    reason_shown = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, kinds: list[ScoreKind], **kwargs):
        super().__init__(*args, **kwargs)
        self.kinds = kinds
        self.fields["kind"].choices = [(kind.key, kind.label) for kind in kinds]

    def clean(self):
        cleaned = super().clean()
        kind = self.chosen_kind()
        if kind is not None and kind.is_free and not cleaned.get("name", "").strip():
            self.add_error("name", "Give the score a name.")
        if not cleaned.get("value"):
            self.add_error("value", "Give a value.")
        return cleaned

    def chosen_kind(self) -> ScoreKind | None:
        key = self.cleaned_data.get("kind") if hasattr(self, "cleaned_data") else None
        return next((kind for kind in self.kinds if kind.key == key), None)

    def score_input(self) -> dict:
        """Keyword arguments for the annotate services, from a valid form."""
        kind = self.chosen_kind()
        data = self.cleaned_data
        return {
            "name": kind.config.name if kind.config else data["name"].strip(),
            "value": data["value"],
            "data_type": kind.data_type,
            "config": kind.config,
            "reason": data["reason"].strip() or None,
            "reason_given": bool(data["reason"].strip()) or data["reason_shown"],
        }

    def add_service_errors(self, error: ValidationError) -> None:
        """Show a service's ValidationError beside the field it names."""
        fields = {
            "value": "value",
            "name": "name",
            "data_type": "kind",
            "config_id": "kind",
            "reason": "reason",
        }
        detail = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
        for key, messages in detail.items():
            for message in messages:
                self.add_error(fields.get(key), message)


DEFAULT_FILTER_LIMIT = 100
MAX_FILTER_LIMIT = 5000


class UserChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.get_username()


class ConfigChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.name} ({obj.data_type.lower()})"


class LabelListField(forms.CharField):
    """A list of labels typed one per line (a CATEGORICAL config's categories), not raw JSON."""

    widget = forms.Textarea(attrs={"rows": 4})

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "One label per line, in the order reviewers see them.")
        super().__init__(required=False, **kwargs)

    def prepare_value(self, value):
        return "\n".join(str(label) for label in value) if isinstance(value, list) else value

    def to_python(self, value) -> list[str]:
        return [line.strip() for line in (super().to_python(value) or "").splitlines() if line.strip()]


class QueueSettingsForm(forms.Form):
    """What an admin sets on a queue, when building it and when editing it. The hold is shown and
    entered in minutes everywhere (the model keeps seconds)."""

    # Service field names that the form shows under another name.
    SERVICE_FIELDS = {"hold_seconds": "hold_minutes"}

    name = forms.CharField(max_length=255)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    score_configs = ConfigChoiceField(
        queryset=ScoreConfig.objects.none(), widget=forms.CheckboxSelectMultiple
    )
    reviewers = UserChoiceField(queryset=None, widget=forms.CheckboxSelectMultiple)
    reviewers_per_item = forms.IntegerField(min_value=1, max_value=50, initial=1)
    hold_minutes = forms.IntegerField(
        min_value=1, max_value=24 * 60, initial=10, help_text="An opened item is reserved this long."
    )
    allow_partial = forms.BooleanField(
        required=False,
        label="Reviewers may save only some scores",
        help_text="Otherwise every score needs a value or N/A.",
    )

    def __init__(self, *args, configs, members, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["score_configs"].queryset = configs
        self.fields["reviewers"].queryset = members

    @staticmethod
    def initial_from_queue(queue) -> dict:
        return {
            "name": queue.name,
            "description": queue.description,
            "score_configs": list(queue.score_configs.all()),
            "reviewers": list(queue.reviewers.all()),
            "reviewers_per_item": queue.reviewers_per_item,
            "hold_minutes": max(1, round(queue.hold_seconds / 60)),
            "allow_partial": queue.allow_partial,
        }

    def settings(self) -> dict:
        """Keyword arguments of `review_queue_create` / `review_queue_update`, from a valid form."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "description": data["description"],
            "score_configs": list(data["score_configs"]),
            "reviewers": list(data["reviewers"]),
            "reviewers_per_item": data["reviewers_per_item"],
            "hold_seconds": data["hold_minutes"] * 60,
            "allow_partial": data["allow_partial"],
        }

    def service_error_field(self, key: str) -> str | None:
        if key in self.SERVICE_FIELDS:
            return self.SERVICE_FIELDS[key]
        return key if key in self.fields else None

    def add_service_errors(self, error: ValidationError) -> None:
        for key, messages in error.message_dict.items():
            for message in messages:
                self.add_error(self.service_error_field(key), message)


class QueueCreateForm(QueueSettingsForm):
    SOURCE_FILTER = "filter"
    SOURCE_SELECTION = "selection"
    FILTER_PREFIX = "filter_"

    source = forms.ChoiceField(
        choices=[(SOURCE_FILTER, "Traces matching a filter"), (SOURCE_SELECTION, "A selection of trace ids")],
        initial=SOURCE_FILTER,
        widget=forms.RadioSelect,
    )
    # The filter itself is the explorer's form (`includes/trace_filters.html`), its boxes named
    # `FILTER_PREFIX` + the explorer's parameter: the view reads them with `unprefixed`.
    limit = forms.IntegerField(
        min_value=1, max_value=MAX_FILTER_LIMIT, initial=DEFAULT_FILTER_LIMIT, label="At most",
        help_text="The queue takes the first traces that match, oldest first.",
    )  # fmt: skip
    trace_ids = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}),
        help_text="Trace ids separated by spaces, commas or new lines.",
    )

    def clean_trace_ids(self) -> list[uuid.UUID]:
        ids = []
        for raw in re.split(r"[\s,]+", self.cleaned_data["trace_ids"].strip()):
            if not raw:
                continue
            try:
                ids.append(uuid.UUID(raw))
            except ValueError:
                raise forms.ValidationError(f"'{raw[:60]}' is not a trace id") from None
        return ids

    def clean(self):
        data = super().clean()
        if data.get("source") == self.SOURCE_SELECTION and not data.get("trace_ids") and "trace_ids" in data:
            self.add_error("trace_ids", "Give at least one trace id.")
        return data

    @classmethod
    def initial_from_query(cls, query: QueryDict) -> dict:
        """Prefill a selection from a link (`?trace_ids=a&trace_ids=b`); the filter boxes are the
        explorer's and read the link's other parameters themselves."""
        if query.getlist("trace_ids"):
            return {"trace_ids": "\n".join(query.getlist("trace_ids")), "source": cls.SOURCE_SELECTION}
        return {}

    @classmethod
    def initial_from_data(cls, data: QueryDict) -> dict:
        """The posted values as the initial values of an unbound form: what the count preview shows
        again, without the errors of a form nobody has tried to submit yet."""
        initial = {}
        for name, form_field in cls.base_fields.items():
            if name not in data:
                continue
            multiple = isinstance(form_field, forms.MultipleChoiceField | forms.ModelMultipleChoiceField)
            initial[name] = data.getlist(name) if multiple else data.get(name)
        return initial


def score_field_name(config: ScoreConfig) -> str:
    return f"score_{config.pk.hex}"


def comment_field_name(config: ScoreConfig) -> str:
    return f"comment_{config.pk.hex}"


def not_applicable_field_name(config: ScoreConfig) -> str:
    return f"na_{config.pk.hex}"


class TraceSelectionForm(forms.Form):
    """The explorer's row selection and what to do with it: add it to a queue, or evaluate it."""

    QUEUE = "queue"
    EVALUATE = "evaluate"

    action = forms.ChoiceField(choices=[(QUEUE, "Add to queue"), (EVALUATE, "Evaluate selected")])
    trace_ids = UUIDListField(
        max_items=ExplorerFilter.MAX_TRACE_IDS, error_messages={"required": "Select at least one trace."}
    )
    queue = forms.UUIDField(required=False, error_messages={"invalid": "Choose one of the queues."})

    def clean(self):
        data = super().clean()
        if data.get("action") == self.QUEUE and not data.get("queue") and "queue" not in self.errors:
            self.add_error("queue", "Choose the queue to add the traces to.")
        return data


class ItemReviewForm(forms.Form):
    """Per score config of the queue: a value, an N/A box and a comment (that score's reason).
    Which blanks are allowed is the service's rule (the queue's partial setting)."""

    item = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, configs: list[ScoreConfig], **kwargs):
        super().__init__(*args, **kwargs)
        self.configs = configs
        for config in configs:
            self.fields[score_field_name(config)] = self._field_for(config)
            self.fields[not_applicable_field_name(config)] = forms.BooleanField(required=False, label="N/A")
            self.fields[comment_field_name(config)] = forms.CharField(
                required=False, max_length=10_000, label=f"{config.name} comment"
            )

    @staticmethod
    def _field_for(config: ScoreConfig) -> forms.Field:
        if config.data_type == ScoreDataType.BOOLEAN:
            return forms.ChoiceField(
                label=config.name, required=False, choices=[("true", "true"), ("false", "false")]
            )
        if config.data_type == ScoreDataType.CATEGORICAL and config.categories:
            labels = [str(c) for c in config.categories]
            return forms.ChoiceField(label=config.name, required=False, choices=[(c, c) for c in labels])
        return forms.CharField(label=config.name, required=False, max_length=255)

    def review_input(self) -> ReviewInput:
        """The reviewer's answers for `queue_item_review_submit`, from a valid form."""
        data = self.cleaned_data
        return ReviewInput(
            values={c.name: data.get(score_field_name(c)) for c in self.configs},
            comments={c.name: data.get(comment_field_name(c)) for c in self.configs},
            not_applicable=frozenset(c.name for c in self.configs if data.get(not_applicable_field_name(c))),
        )

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        """Attach a service ValidationError (keyed by config name, or a form field) to the fields."""
        fields_by_name = {config.name: score_field_name(config) for config in self.configs}
        for key, messages in errors.items():
            # Errors about the item itself (e.g. taken by someone else) concern the whole form.
            field = fields_by_name.get(key, key if key in self.fields and key != "item" else None)
            for message in messages:
                self.add_error(field, message)


class RunCreateForm(forms.Form):
    """Start (or preview) an evaluation run over the trace explorer's current filter."""

    PREVIEW = "preview"
    START = "start"

    metrics = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, choices=[])
    sampling_rate = forms.FloatField(
        min_value=0.0, max_value=1.0, initial=1.0, help_text="The share of the matching traces to evaluate."
    )
    seed = forms.IntegerField(
        required=False, min_value=0, max_value=2**62, help_text="The same seed samples the same traces."
    )
    model = forms.CharField(required=False, max_length=255)
    name = forms.CharField(required=False, max_length=255)
    action = forms.ChoiceField(choices=[(PREVIEW, "Preview"), (START, "Start")], initial=PREVIEW)

    def __init__(self, *args, metrics: dict, default_model: str, **kwargs):
        super().__init__(*args, **kwargs)
        # The label carries the description: markup built by format_html, so the values are escaped.
        self.fields["metrics"].choices = [
            (name, format_html("<b>{}</b> <span class='muted'>{}</span>", name, metric.description))
            for name, metric in metrics.items()
        ]
        self.fields["model"].widget.attrs["placeholder"] = default_model or "e.g. openai/gpt-4o-mini"

    @property
    def dry_run(self) -> bool:
        return self.cleaned_data["action"] == self.PREVIEW

    def run_options(self) -> dict:
        """Keyword arguments of `eval_run_create_from_explorer`, from a valid form."""
        data = self.cleaned_data
        return {
            "metrics": data["metrics"],
            "sampling_rate": data["sampling_rate"],
            "seed": data["seed"],
            "model": data["model"].strip() or None,
            "name": data["name"].strip() or None,
            "dry_run": self.dry_run,
        }

    def add_service_error(self, message: str) -> None:
        """A service's message beside the field it starts with (`metrics: unknown ...`), else on top."""
        field, _, rest = message.partition(": ")
        if rest and field in self.fields:
            self.add_error(field, rest)
        else:
            self.add_error(None, message)
