from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    name = "evaluations"
    verbose_name = "Evaluations"

    def ready(self) -> None:
        # Trace and session deletes purge their scores (with history) through this; see
        # `pandaprobe.traces.services.register_trace_dependent` for why it is a registry.
        from pandaprobe.traces.services import register_trace_dependent

        from .services.purge import scores_purge

        register_trace_dependent(scores_purge)
