from django.apps import AppConfig
from django.db.backends.signals import connection_created


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self):
        from .selectors.sql import register_sqlite_functions

        # Plumbing, not business logic: SQLite has no median aggregate of its own.
        connection_created.connect(register_sqlite_functions, dispatch_uid="analytics-sqlite-functions")
