"""Forms of the annotation pages. They parse input only: the value rules live in the services."""

from dataclasses import dataclass, field

from django import forms
from django.core.exceptions import ValidationError

from .models import ScoreConfig, ScoreDataType

FREE_PREFIX = "free:"
CONFIG_PREFIX = "config:"
DEFAULT_RANGE = (0.0, 1.0)


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


def _config_kind(config: ScoreConfig) -> ScoreKind:
    low, high = config.min_value, config.max_value
    if config.data_type == ScoreDataType.NUMERIC and low is None and high is None:
        low, high = DEFAULT_RANGE  # what validate_score_value applies to a config without bounds
    return ScoreKind(
        key=f"{CONFIG_PREFIX}{config.pk}",
        label=f"{config.name} ({config.data_type.lower()})",
        data_type=config.data_type,
        config=config,
        min_value=low,
        max_value=high,
        categories=[str(c) for c in config.categories or []],
    )


def score_kinds(configs: list[ScoreConfig]) -> list[ScoreKind]:
    """The choices of the scoring form: every active config, then a free name of each type."""
    free = [
        ScoreKind(
            key=f"{FREE_PREFIX}{data_type}",
            label=f"Free name ({data_type.lower()})",
            data_type=data_type,
            **(
                {"min_value": DEFAULT_RANGE[0], "max_value": DEFAULT_RANGE[1]}
                if data_type == "NUMERIC"
                else {}
            ),
        )
        for data_type in ScoreDataType.values
    ]
    return [_config_kind(config) for config in configs] + free


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
