"""Writes for score configs: a project's named score definitions (type, range, labels)."""

import math

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from evaluations.models import ScoreConfig, ScoreDataType
from pandaprobe.errors import Conflict
from pandaprobe.projects.access import Action, ProjectAccess

from .values import DEFAULT_NUMERIC_RANGE

EDITABLE_FIELDS = ("name", "min_value", "max_value", "step", "categories", "description", "is_archived")
MAX_NAME_LENGTH = ScoreConfig._meta.get_field("name").max_length


def _clean_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": "a non-empty name is required"})
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError({"name": f"must be at most {MAX_NAME_LENGTH} characters"})
    return name


def _clean_bound(field: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValidationError({field: "must be a number"})
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError({field: "must be a number"}) from None
    if not math.isfinite(number):
        raise ValidationError({field: "must be a finite number"})
    return number


def _clean_categories(categories) -> list[str]:
    if categories is None:
        return []
    if not isinstance(categories, list):
        raise ValidationError({"categories": "must be a list of labels"})
    labels = []
    for label in categories:
        if not isinstance(label, str) or not label.strip():
            raise ValidationError({"categories": "every label must be a non-empty string"})
        if label.strip() in labels:
            raise ValidationError({"categories": f"label '{label.strip()}' is listed twice"})
        labels.append(label.strip())
    return labels


def _clean_step(step, low: float | None, high: float | None) -> float | None:
    step = _clean_bound("step", step)
    if step is None:
        return None
    if step <= 0:
        raise ValidationError({"step": "must be greater than 0"})
    if low is None and high is None:  # the range values.py applies to a config without bounds
        low, high = DEFAULT_NUMERIC_RANGE
    if low is not None and high is not None:
        if step > high - low:
            raise ValidationError({"step": f"must not exceed the range's width ({high - low:g})"})
        steps = (high - low) / step
        if not math.isfinite(steps):
            raise ValidationError({"step": "is too small for the range"})
        if abs(steps - round(steps)) > 1e-9 * steps:
            raise ValidationError({"step": f"must divide the range {low:g}–{high:g} into whole steps"})
    return step


def score_config_clean(
    *, data_type: str, min_value=None, max_value=None, categories=None, step=None
) -> tuple[float | None, float | None, list[str], float | None]:
    """Check a config's shape for its data type; returns (min_value, max_value, categories, step).

    NUMERIC may bound its range (min < max when both are given) and declare a step that divides it;
    CATEGORICAL needs at least one label; BOOLEAN takes neither. Raises ValidationError naming the
    offending field.
    """
    if data_type not in ScoreDataType.values:
        raise ValidationError({"data_type": f"must be one of {', '.join(ScoreDataType.values)}"})
    low, high = _clean_bound("min_value", min_value), _clean_bound("max_value", max_value)
    labels = _clean_categories(categories)
    if data_type != ScoreDataType.NUMERIC:
        for field, bound, what in (
            ("min_value", low, "range"),
            ("max_value", high, "range"),
            ("step", step, "step"),
        ):
            if bound is not None:
                raise ValidationError({field: f"only a NUMERIC config has a {what}"})
    elif low is not None and high is not None and low >= high:
        raise ValidationError({"max_value": "must be greater than min_value"})
    if data_type == ScoreDataType.CATEGORICAL and not labels:
        raise ValidationError({"categories": "a CATEGORICAL config needs at least one label"})
    if data_type != ScoreDataType.CATEGORICAL and labels:
        raise ValidationError({"categories": "only a CATEGORICAL config has labels"})
    return low, high, labels, _clean_step(step, low, high)


def _save(config: ScoreConfig) -> ScoreConfig:
    """Save, turning the per-project unique name into a 409 (also when two requests race)."""
    try:
        with transaction.atomic():
            config.save()
    except IntegrityError:
        raise Conflict(f"A score config named '{config.name}' already exists in this project") from None
    return config


def score_config_create(
    *,
    access: ProjectAccess,
    name: str,
    data_type: str = ScoreDataType.NUMERIC,
    min_value: float | None = None,
    max_value: float | None = None,
    categories: list[str] | None = None,
    description: str = "",
    step: float | None = None,
) -> ScoreConfig:
    """Define a score config in `access.project` (422 naming the field; 409 on a taken name)."""
    access.require(Action.CONFIG_MANAGE)
    name = _clean_name(name)
    low, high, labels, step = score_config_clean(
        data_type=data_type, min_value=min_value, max_value=max_value, categories=categories, step=step
    )
    config = ScoreConfig(
        project=access.project,
        name=name,
        data_type=data_type,
        min_value=low,
        max_value=high,
        step=step,
        categories=labels,
        description=description or "",
    )
    return _save(config)


def score_config_update(*, access: ProjectAccess, config: ScoreConfig, changes: dict) -> ScoreConfig:
    """Change a config's name, range, labels, description or archived flag (PATCH semantics).

    The data type is fixed once scores may use it: a config of another type is a new config.
    """
    access.require(Action.CONFIG_MANAGE)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({field: "this field cannot be changed" for field in sorted(unknown)})
    merged = {field: changes.get(field, getattr(config, field)) for field in EDITABLE_FIELDS}
    low, high, labels, step = score_config_clean(
        data_type=config.data_type,
        min_value=merged["min_value"],
        max_value=merged["max_value"],
        categories=merged["categories"],
        step=merged["step"],
    )
    config.name = _clean_name(merged["name"])
    config.min_value, config.max_value, config.categories, config.step = low, high, labels, step
    config.description = merged["description"] or ""
    config.is_archived = bool(merged["is_archived"])
    return _save(config)


def score_config_delete(*, access: ProjectAccess, config: ScoreConfig) -> None:
    """Delete a config. Scores made with it keep their values; their config link becomes empty."""
    access.require(Action.CONFIG_MANAGE)
    config.delete()
