"""The scoring forms offer exactly the numeric range the value service accepts (one definition)."""

import pytest
from django.core.exceptions import ValidationError

from evaluations.forms import FREE_PREFIX, score_kinds
from evaluations.models import ScoreConfig
from evaluations.services.values import DEFAULT_NUMERIC_RANGE, numeric_span, validate_score_value

BOUNDS = [
    pytest.param(None, None, id="no-bounds"),
    pytest.param(-5.0, 5.0, id="both"),
    pytest.param(2.0, None, id="min-only"),
    pytest.param(None, 10.0, id="max-only"),
    pytest.param(None, -3.0, id="negative-max-only"),
]


def accepts(value: float, config: ScoreConfig | None) -> bool:
    try:
        validate_score_value(data_type="NUMERIC", value=repr(value), config=config)
    except ValidationError:
        return False
    return True


def numeric_config(project, low, high) -> ScoreConfig:
    return ScoreConfig.objects.create(project=project, name="quality", min_value=low, max_value=high)


@pytest.mark.parametrize("low, high", BOUNDS)
def test_a_configs_form_range_is_the_services(project, low, high):
    config = numeric_config(project, low, high)
    kind = score_kinds([config])[0]
    for bound, outside in ((kind.min_value, -0.001), (kind.max_value, +0.001)):
        if bound is None:  # an open side: the service takes far values there too
            far = 1e9 if outside > 0 else -1e9
            assert accepts(far, config)
        else:
            assert accepts(bound, config) and not accepts(bound + outside, config)


def test_the_free_numeric_kind_offers_the_default_range_the_service_applies():
    kind = next(k for k in score_kinds([]) if k.key == f"{FREE_PREFIX}NUMERIC")
    assert (kind.min_value, kind.max_value) == DEFAULT_NUMERIC_RANGE
    assert kind.has_range
    assert accepts(kind.min_value, None) and accepts(kind.max_value, None)
    assert not accepts(kind.min_value - 0.001, None) and not accepts(kind.max_value + 0.001, None)


def test_non_numeric_kinds_have_no_range(project):
    config = ScoreConfig.objects.create(
        project=project, name="ok", data_type="BOOLEAN", min_value=0, max_value=9
    )
    kinds = [k for k in score_kinds([config]) if k.data_type != "NUMERIC"]
    assert kinds and all(k.min_value is None and k.max_value is None for k in kinds)


@pytest.mark.parametrize(
    "low, high, span",
    [(None, None, DEFAULT_NUMERIC_RANGE), (-5.0, 5.0, (-5.0, 5.0)), (2.0, None, (2.0, 3.0)),
     (None, 10.0, (9.0, 10.0)), (None, -3.0, (-4.0, -3.0))],
)  # fmt: skip
def test_the_review_queues_number_keys_stay_inside_the_services_range(project, low, high, span):
    config = numeric_config(project, low, high)
    start, end = numeric_span(config)
    assert (start, end) == span
    assert accepts(start, config) and accepts(end, config)
