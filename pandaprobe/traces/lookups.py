"""`tags__any_of=[...]`: a JSON array of strings holding at least one of the values.

PostgreSQL answers it with jsonb's `?|`; SQLite with `json_each`. One lookup, so every tag filter in
the code base is written once.
"""

from django.db.models import JSONField, Lookup


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        placeholders = ", ".join(["%s"] * len(values))
        sql = f"EXISTS (SELECT 1 FROM json_each({lhs}) WHERE json_each.value IN ({placeholders}))"
        return sql, [*lhs_params, *values]

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} ?| %s::text[]", [*lhs_params, list(self.rhs)]


class TagListField(JSONField):
    """A JSON list of tag strings that supports `__any_of`."""


TagListField.register_lookup(AnyOf)


class PayloadJSONField(JSONField):
    """A JSON column for a span's large payloads (input, output).

    Django 5.2 bulk-inserts on PostgreSQL through UNNEST of one array per column, for which psycopg
    quotes every JSON document into array text in Python: on ingestion that was ~11% of a request's
    CPU. A field with its own `get_placeholder` keeps the span insert on plain VALUES.
    """

    def get_placeholder(self, value, compiler, connection) -> str:
        return "%s"
