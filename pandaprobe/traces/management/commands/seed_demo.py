"""`manage.py seed_demo`: the demo project, its users and a fresh API key, then how to use them.

Safe to run again (`make run` runs it every time): traces and users are created once; each run issues
a new API key, since a raw key is never stored and so cannot be shown a second time.
"""

import os
import time

from django.core.management.base import BaseCommand
from django.db import transaction
from django.urls import Resolver404, resolve

from pandaprobe.projects import services as project_services
from pandaprobe.projects.models import Membership
from pandaprobe.traces import demo
from pandaprobe.traces.models import Trace

ADMIN_USERNAME = "admin"
REVIEWER_USERNAME = "reviewer"


def _url_exists(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


class Command(BaseCommand):
    help = "Seed the demo project once (traces, an admin and a reviewer) and print a new API key and logins."

    def add_arguments(self, parser):
        parser.add_argument("--project", default=demo.DEMO_PROJECT_NAME, help="Project name (default: demo)")
        parser.add_argument(
            "--reset-passwords", action="store_true", help="Give the admin and reviewer users new passwords"
        )

    def handle(self, *args, project: str, reset_passwords: bool, **options):
        started = time.monotonic()
        with transaction.atomic():
            target = project_services.project_get_or_create(
                name=project, description="Demo data: a week of agent traces (manage.py seed_demo)."
            )
            added = demo.demo_seed(project=target)
            passwords = self._ensure_users(target, reset_passwords)
            issued = project_services.api_key_create(project=target, name="seed_demo")
        self._report(target, added, passwords, issued.raw_key, time.monotonic() - started)

    def _ensure_users(self, project, reset: bool) -> dict[str, str | None]:
        """The admin (a superuser) and the reviewer, members of the project; their new passwords."""
        passwords = {}
        for username, role in (
            (ADMIN_USERNAME, Membership.Role.ADMIN),
            (REVIEWER_USERNAME, Membership.Role.REVIEWER),
        ):
            user, passwords[username] = demo.demo_user_ensure(
                username=username, superuser=role == Membership.Role.ADMIN, reset_password=reset
            )
            project_services.membership_set(user=user, project=project, role=role)
        return passwords

    def _report(self, project, added: int, passwords: dict, raw_key: str, seconds: float) -> None:
        base = f"http://127.0.0.1:{os.environ.get('PORT') or 8000}"
        if added:
            seeded = f"{added} traces added in {seconds:.1f} s"
        else:
            seeded = f"already seeded ({Trace.objects.filter(project=project).count()} traces), nothing added"
        links = [("/", "browser"), ("/docs", "API docs"), ("/admin/", "admin")]
        lines = [
            "",
            f"PandaProbe Eval demo: project '{project.name}', {seeded}.",
            f"  API key:   {raw_key}",
            "             (a new key on every run; earlier ones work until revoked in /admin/)",
            _login_line("Admin:", ADMIN_USERNAME, passwords, "superuser: every project and /admin/"),
            _login_line("Reviewer:", REVIEWER_USERNAME, passwords, f"reviewer in '{project.name}'"),
            *(
                []
                if all(passwords.values())
                else [f"{'':<13}new passwords: manage.py seed_demo --reset-passwords"]
            ),
            "  Open:      "
            + "   ".join(f"{base}{path} ({what})" for path, what in links if _url_exists(path)),
            f'  Try:       curl -H "X-API-Key: {raw_key}" -H "X-Project-Name: {project.name}" "{base}/traces?limit=5"',
        ]
        self.stdout.write("\n".join(lines) + "\n")


def _login_line(label: str, username: str, passwords: dict, role: str) -> str:
    login = (
        f"{username} / {passwords[username]}"
        if passwords[username]
        else f"{username} (password shown on the first run)"
    )
    return f"  {label:<10} {login}   [{role}]"
