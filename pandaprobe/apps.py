from django.apps import AppConfig


class PandaprobeConfig(AppConfig):
    """The project package itself: site-wide templates and management commands (`serve`)."""

    name = "pandaprobe"
    verbose_name = "PandaProbe Eval"

    def ready(self) -> None:
        # Registers the API's OpenAPI field extensions with drf-spectacular.
        from .api import schema  # noqa: F401
