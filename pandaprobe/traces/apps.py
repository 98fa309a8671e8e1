from django.apps import AppConfig


class TracesConfig(AppConfig):
    name = "pandaprobe.traces"
    label = "traces"
    verbose_name = "Traces"
