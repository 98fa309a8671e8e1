from django.core.management.base import BaseCommand

from pandaprobe.projects import services


class Command(BaseCommand):
    help = "Create an API key for a project (creating the project if missing); prints only the raw key."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project name")
        parser.add_argument("--name", default="", help="A label for the key")

    def handle(self, *args, project: str, name: str, **options):
        issued = services.api_key_create(project=services.project_get_or_create(name=project), name=name)
        self.stdout.write(issued.raw_key)
