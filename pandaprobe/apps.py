from django.apps import AppConfig


class PandaprobeConfig(AppConfig):
    """The project package itself: site-wide templates and management commands (`serve`)."""

    name = "pandaprobe"
    verbose_name = "PandaProbe Eval"
