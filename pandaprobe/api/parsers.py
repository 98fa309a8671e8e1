"""The API's only parser: DRF's JSON parser, plus what every endpoint needs of a body.

- Too-deep nesting is a 400 like any other bad JSON (the stdlib decoder recurses once per level).
- A value the database could not store or the API could not render back (a NUL or lone surrogate
  in any string or key, a non-finite number such as `1e400`, nesting deeper than `MAX_JSON_DEPTH`)
  is a 422 naming its path, e.g. `["body", "spans", 0, "input", "text"]`: checked once here for every endpoint, since
  PostgreSQL refuses such text anywhere (SQLite would store it and fail later).
"""

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from .errors import RequestValidationError
from .fields import json_problem


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nesting too deep") from None
        problem = json_problem(data)
        if problem is not None:
            raise RequestValidationError("body", [problem])
        return data
