from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "pandaprobe.projects"
    label = "projects"
    verbose_name = "Projects and access"

    def ready(self) -> None:
        # Registers the OpenAPI descriptions of the authentication classes with drf-spectacular.
        from . import schema  # noqa: F401
