from django.apps import AppConfig
from django.db.backends.signals import connection_created


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        from .functions import sqlite_functions_register

        # SQLite has no percentile_cont; each new connection gets ours (not business logic: a SQL
        # function, as Django registers its own on SQLite connections).
        connection_created.connect(sqlite_functions_register, dispatch_uid="analytics-sqlite-functions")
