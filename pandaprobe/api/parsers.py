"""The API's only parser: DRF's JSON parser, with too-deep nesting answered 400 like any bad JSON."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            # The stdlib decoder recurses once per level; without this a body of `[[[[...` is a 500.
            raise ParseError("JSON parse error - nesting too deep") from None
