from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "pandaprobe.projects"
    label = "projects"
    verbose_name = "Projects and access"
