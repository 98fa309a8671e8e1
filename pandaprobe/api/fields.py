"""Serializer fields that refuse, with a 422 naming the field, what the database or the JSON renderer
could not hold: a NUL character or a lone surrogate (PostgreSQL refuses both in jsonb and text), a
non-finite number (`1e400` parses as infinity and cannot be rendered back), nesting deeper than
`MAX_JSON_DEPTH`, and numbers or UUIDs sent where a string is expected.
"""

import math
import re
import uuid

from rest_framework import serializers

MAX_JSON_DEPTH = 64


# One C-level scan of each string instead of a Python loop over its characters (the ingestion hot path).
_UNSTORABLE_CHAR = re.compile("[\x00\ud800-\udfff]")


# (message, type) of a value that cannot be stored; the type is the 422's machine word.
Problem = tuple[str, str]
NUL_PROBLEM = ("Null characters are not allowed.", "null_character")
SURROGATE_PROBLEM = ("Surrogate characters are not allowed.", "surrogate_character")
NOT_FINITE_PROBLEM = ("Only finite numbers are allowed.", "finite_number")


def text_problem(text: str) -> Problem | None:
    found = _UNSTORABLE_CHAR.search(text)
    if found is None:
        return None
    return NUL_PROBLEM if found.group() == "\x00" else SURROGATE_PROBLEM


def _children(value, path: tuple):
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        yield key, child, (*path, key)


def json_problem(value) -> tuple[tuple, str, str] | None:
    """The first `(path, message, type)` that cannot be stored, or None; the path holds keys and list
    indexes, e.g. `("spans", 0, "input")`. Iterative: no recursion limit."""
    stack = [(value, (), 0)]
    while stack:
        current, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return path, f"Nesting deeper than {MAX_JSON_DEPTH} levels is not allowed.", "json_depth"
        if isinstance(current, str):
            problem = text_problem(current)
        elif isinstance(current, float) and not math.isfinite(current):
            problem = NOT_FINITE_PROBLEM
        elif isinstance(current, (dict, list)):
            problem = None
            for key, child, child_path in _children(current, path):
                key_problem = text_problem(key) if isinstance(key, str) else None
                if key_problem:
                    return path, f"Keys: {key_problem[0]}", key_problem[1]
                stack.append((child, child_path, depth + 1))
        else:
            problem = None
        if problem:
            return path, *problem
    return None


class StrictCharField(serializers.CharField):
    """A string; unlike DRF's CharField, a number or a boolean is refused rather than stringified."""

    default_error_messages = {"invalid": "Not a valid string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """A UUID string; DRF's UUIDField would turn an integer into a UUID."""

    def to_internal_value(self, data):
        if not isinstance(data, (str, uuid.UUID)):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean; DRF's BooleanField would also take 1, "yes" or "false"."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictFloatField(serializers.FloatField):
    """A JSON number; DRF's FloatField would also take a numeric string or a boolean."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        return super().to_internal_value(data)
