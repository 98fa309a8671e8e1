"""Number keys derive from a config's range and step in one place (`score_keys`), and a config's
step is checked by the one value rule (`validate_score_value`), so the keys, the API and the pages
agree."""

import pytest
from django.core.exceptions import ValidationError

from evaluations.models import ScoreConfig, ScoreDataType
from evaluations.services.values import score_keys, validate_score_value


def numeric(min_value=None, max_value=None, step=None) -> ScoreConfig:
    return ScoreConfig(
        name="n", data_type=ScoreDataType.NUMERIC, min_value=min_value, max_value=max_value, step=step
    )


TENTHS = [
    (str(k), v) for k, v in enumerate(["0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"])
]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        # An integer range: each key is its own value.
        (numeric(1, 5), [("1", "1"), ("2", "2"), ("3", "3"), ("4", "4"), ("5", "5")]),
        (numeric(0, 10), [(str(k), str(k)) for k in range(10)] + [("=", "10")]),
        # 0–1 (also no range at all, the default): 0–9 set tenths, "=" sets 1.
        (numeric(0, 1), [*TENTHS, ("=", "1")]),
        (numeric(), [*TENTHS, ("=", "1")]),
        # A declared step: its values in order, from 0.
        (numeric(0, 1, 0.25), [("0", "0"), ("1", "0.25"), ("2", "0.5"), ("3", "0.75"), ("4", "1")]),
        (numeric(1, 3, 0.5), [("0", "1"), ("1", "1.5"), ("2", "2"), ("3", "2.5"), ("4", "3")]),
        (numeric(1, 5, 1), [("1", "1"), ("2", "2"), ("3", "3"), ("4", "4"), ("5", "5")]),
        # Too many values for the keys: tenths of the range, on the step.
        (numeric(0, 100, 5), [(str(k), str(10 * k)) for k in range(10)] + [("=", "100")]),
        (numeric(0, 100), [(str(k), str(10 * k)) for k in range(10)] + [("=", "100")]),
    ],
)
def test_numeric_keys(config, expected):
    assert score_keys(config) == expected


def test_boolean_and_categorical_keys():
    assert score_keys(ScoreConfig(data_type=ScoreDataType.BOOLEAN)) == [("1", "true"), ("0", "false")]
    labels = [f"label{i}" for i in range(12)]
    keys = score_keys(ScoreConfig(data_type=ScoreDataType.CATEGORICAL, categories=labels))
    assert keys == [(str(i), f"label{i - 1}") for i in range(1, 10)]


@pytest.mark.parametrize(
    "config",
    [
        numeric(1, 5),
        numeric(0, 1),
        numeric(0, 1, 0.1),
        numeric(-1, 1, 0.2),
        numeric(0, 100, 5),
        numeric(2, None, 0.3),
    ],
)
def test_every_keyed_value_is_accepted_by_the_value_rule(config):
    for _, value in score_keys(config):
        validate_score_value(data_type=ScoreDataType.NUMERIC, value=value, config=config)


def test_a_value_off_the_step_is_refused_naming_the_value():
    config = numeric(0, 1, 0.1)
    assert validate_score_value(data_type="NUMERIC", value="0.3", config=config) == ("0.3", 0.3)
    with pytest.raises(ValidationError) as exc:
        validate_score_value(data_type="NUMERIC", value="0.35", config=config)
    assert list(exc.value.message_dict) == ["value"] and "step 0.1" in exc.value.messages[0]
    # Without a step any value in the range goes.
    assert validate_score_value(data_type="NUMERIC", value="0.35", config=numeric(0, 1))[1] == 0.35
