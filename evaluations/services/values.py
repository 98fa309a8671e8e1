"""The one rule for what a score value may be, shared by trace scores, session scores and the judge."""

import math
import re

from django.core.exceptions import ValidationError

from evaluations.models import ScoreConfig, ScoreDataType

# The range of a NUMERIC score without a config, or whose config gives no bound: the one definition
# (the scoring forms and the review queue's number keys read it through `numeric_range`).
DEFAULT_NUMERIC_RANGE = (0.0, 1.0)
BOOLEAN_VALUES = {"true": 1.0, "false": 0.0}
# A plain decimal: Python's float() also takes "1_0", "infinity" and "nan", which a score is not.
DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def numeric_range(config: ScoreConfig | None) -> tuple[float | None, float | None]:
    """The values a NUMERIC score may take: `DEFAULT_NUMERIC_RANGE` unless the config gives a bound;
    a config that gives one bound leaves the other side open (None)."""
    if config is None or (config.min_value is None and config.max_value is None):
        return DEFAULT_NUMERIC_RANGE
    return config.min_value, config.max_value


def numeric_span(config: ScoreConfig | None) -> tuple[float, float]:
    """A finite span inside `numeric_range` for controls that need two ends (a slider, number keys):
    an open side lies the default range's width from the bound that is given."""
    low, high = numeric_range(config)
    width = DEFAULT_NUMERIC_RANGE[1] - DEFAULT_NUMERIC_RANGE[0]
    if low is None:
        low = high - width
    if high is None:
        high = low + width
    return low, high


def _numeric(value: str, config: ScoreConfig | None) -> tuple[str, float]:
    if not DECIMAL.fullmatch(value):
        raise ValidationError({"value": f"'{value}' is not a finite number"})
    number = float(value)
    if not math.isfinite(number):  # e.g. 1e999
        raise ValidationError({"value": "must be a finite number"})
    low, high = numeric_range(config)
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise ValidationError({"value": f"{number} is outside the allowed range {bounds}"})
    return value, number


def _boolean(value: str) -> tuple[str, float]:
    normalized = value.strip().lower()
    if normalized not in BOOLEAN_VALUES:
        raise ValidationError({"value": "must be 'true' or 'false' for a BOOLEAN score"})
    return normalized, BOOLEAN_VALUES[normalized]


def _categorical(value: str, config: ScoreConfig | None) -> tuple[str, None]:
    label = value.strip()
    if not label:
        raise ValidationError({"value": "must be a non-empty label for a CATEGORICAL score"})
    categories = [str(c) for c in (config.categories or [])] if config is not None else []
    if categories and label not in categories:
        raise ValidationError({"value": f"'{label}' is not one of {', '.join(categories)}"})
    return label, None


def check_config_type(*, data_type: str, config: ScoreConfig | None) -> None:
    """A score given against a config has the config's data type."""
    if config is not None and config.data_type != data_type:
        raise ValidationError(
            {"data_type": f"score config '{config.name}' is {config.data_type}, not {data_type}"}
        )


def validate_score_value(
    *, data_type: str, value: str | None, config: ScoreConfig | None = None
) -> tuple[str, float | None]:
    """Check `value` against `data_type` (and the config's range or categories) and normalize it.

    Returns `(value string, numeric_value)`: NUMERIC keeps the string as sent (stripped) with its
    float; BOOLEAN becomes "true"/"false" with 1.0/0.0; CATEGORICAL keeps the stripped label with
    no number. Raises `ValidationError({"value": ...})` on a bad value, or
    `ValidationError({"data_type": ...})` when the config is of another data type.
    """
    check_config_type(data_type=data_type, config=config)
    if value is None or not str(value).strip():
        raise ValidationError({"value": "a value is required"})
    value = str(value).strip()
    if data_type == ScoreDataType.NUMERIC:
        return _numeric(value, config)
    if data_type == ScoreDataType.BOOLEAN:
        return _boolean(value)
    if data_type == ScoreDataType.CATEGORICAL:
        return _categorical(value, config)
    raise ValidationError({"data_type": f"'{data_type}' is not one of NUMERIC, BOOLEAN, CATEGORICAL"})
