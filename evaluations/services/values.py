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


def step_origin(config: ScoreConfig) -> float:
    """Where a config's step grid starts: its lower bound, else its upper bound, else 0."""
    for bound in (config.min_value, config.max_value):
        if bound is not None:
            return float(bound)
    return 0.0


def on_step(number: float, config: ScoreConfig | None) -> bool:
    """Whether `number` lies on the config's step grid (always, without a step). The tolerance
    absorbs float noise: 0.1 * 3 is 0.30000000000000004."""
    if config is None or not config.step:
        return True
    steps = (number - step_origin(config)) / config.step
    if not math.isfinite(steps):  # e.g. 1e308 from -1e308: too far to say, so not on the grid
        return False
    return abs(steps - round(steps)) <= 1e-9 * max(1.0, abs(steps))


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
    if not on_step(number, config):
        raise ValidationError(
            {
                "value": f"{number:g} is not a multiple of the step {config.step:g} from {step_origin(config):g}"
            }
        )
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


# Number keys of the review queue's work page ------------------------------------------------------
# The one mapping from keys to values: the page's script reads it as data and the `?` overlay prints
# it. "=" (also Shift+0, ")" on US keyboards) is the key after 9.
TOP_KEY = "="
DIGIT_KEYS = [str(digit) for digit in range(10)]
MAX_KEYED_VALUES = len(DIGIT_KEYS) + 1
# An unstepped range with integer bounds this narrow is scored in whole numbers (1–5: keys 1–5).
MAX_WHOLE_NUMBER_WIDTH = 10


def number_text(number: float) -> str:
    """A key's value as a reviewer would type it: 0.7, not 0.7000000000000001; 3, not 3.0."""
    text = repr(round(number, 9))
    return text[:-2] if text.endswith(".0") else text


def _key_step(config: ScoreConfig | None, low: float, high: float) -> float | None:
    if config is not None and config.step:
        return float(config.step)
    whole = low.is_integer() and high.is_integer() and 2 <= high - low <= MAX_WHOLE_NUMBER_WIDTH
    return 1.0 if whole else None


def _snap(number: float, config: ScoreConfig | None, step: float) -> float:
    origin = step_origin(config) if config is not None and config.step else 0.0
    steps = (number - origin) / step
    return origin + round(steps) * step if math.isfinite(steps) else number


def _grid(config: ScoreConfig | None, low: float, high: float) -> list[float] | None:
    """Every allowed value when a step leaves few enough to key each one, else None."""
    step = _key_step(config, low, high)
    if step is None or (high - low) / step + 1 > MAX_KEYED_VALUES + 1e-9:
        return None
    first = _snap(low, config, step)
    first = first + step if first < low - 1e-9 else first
    count = int((high - first) / step + 1e-9) + 1
    return [first + index * step for index in range(min(count, MAX_KEYED_VALUES))]


def numeric_keys(config: ScoreConfig | None) -> list[tuple[str, str]]:
    """(key, value) pairs of a NUMERIC score: keys are the values themselves when all are whole
    numbers 0–10 (1–5: keys 1–5; 10 is "="); else 0–9 and "=" take the allowed values in order
    when at most 11, or tenths of the range (snapped to the step) with "=" the top."""
    low, high = (float(bound) for bound in numeric_span(config))
    if not math.isfinite(high - low):  # e.g. -1e308..1e308: no tenths to key; the box takes a value
        return []
    values = _grid(config, low, high)
    if values and all(v.is_integer() and 0 <= v <= 10 for v in values):
        return [(TOP_KEY if v == 10 else str(int(v)), number_text(v)) for v in values]
    if values is None:
        step = _key_step(config, low, high)
        tenths = [low + k * (high - low) / 10 for k in range(MAX_KEYED_VALUES)]
        values = list(dict.fromkeys(_snap(v, config, step) if step else v for v in tenths))
    keys = DIGIT_KEYS + [TOP_KEY]
    return [(key, number_text(value)) for key, value in zip(keys, values, strict=False)]


def score_keys(config: ScoreConfig) -> list[tuple[str, str]]:
    """The number keys of a config's control, as (key, value) pairs in the order shown: BOOLEAN
    1 true, 0 false; CATEGORICAL 1–9 the first nine labels; NUMERIC see `numeric_keys`."""
    if config.data_type == ScoreDataType.BOOLEAN:
        return [("1", "true"), ("0", "false")]
    if config.data_type == ScoreDataType.CATEGORICAL:
        labels = [str(label) for label in config.categories or []]
        return list(zip(DIGIT_KEYS[1:], labels, strict=False))
    return numeric_keys(config)
