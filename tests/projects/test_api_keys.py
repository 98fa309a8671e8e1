"""API keys: `sk_pp_` + 64 hex, stored only as SHA-256, shown once (command, admin)."""

import hashlib
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from pandaprobe.projects import services
from pandaprobe.projects.models import ApiKey, Project

from ..factories import UserFactory

KEY_FORMAT = re.compile(r"^sk_pp_[0-9a-f]{64}$")
REPO = Path(__file__).resolve().parents[2]


def works(raw_key: str, project_name: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw_key, HTTP_X_PROJECT_NAME=project_name)
    return client.get("/traces").status_code == 200


def test_a_key_is_stored_only_as_its_hash_with_a_short_prefix(project):
    issued = services.api_key_create(project=project, name="ci")
    key = ApiKey.objects.get(pk=issued.api_key.pk)
    assert KEY_FORMAT.match(issued.raw_key)
    assert key.key_hash == hashlib.sha256(issued.raw_key.encode()).hexdigest()
    assert key.key_prefix == issued.raw_key[:12] and key.key_prefix.startswith("sk_pp_")
    assert (key.name, key.is_active, key.expires_at, key.last_used_at) == ("ci", True, None, None)
    stored = [str(value) for value in ApiKey.objects.filter(pk=key.pk).values().get().values()]
    assert issued.raw_key not in stored and issued.raw_key[12:] not in "".join(stored)


def test_keys_are_unique(project):
    raw = {services.api_key_create(project=project).raw_key for _ in range(20)}
    assert len(raw) == 20


def test_create_api_key_command_prints_only_the_key_and_creates_the_project(db):
    out, err = StringIO(), StringIO()
    call_command("create_api_key", "--project", "new-project", "--name", "laptop", stdout=out, stderr=err)
    raw_key = out.getvalue().strip()
    assert KEY_FORMAT.match(raw_key) and out.getvalue() == raw_key + "\n"
    project = Project.objects.get(name="new-project")
    assert ApiKey.objects.get(project=project).name == "laptop"
    assert works(raw_key, "new-project")


def test_create_api_key_command_reuses_an_existing_project(project):
    out = StringIO()
    call_command("create_api_key", "--project", project.name, stdout=out)
    assert Project.objects.count() == 1
    assert works(out.getvalue().strip(), project.name)


def test_create_api_key_command_requires_a_project(db):
    with pytest.raises(Exception, match="--project"):
        call_command("create_api_key", stdout=StringIO(), stderr=StringIO())


def test_create_api_key_in_a_real_process_prints_nothing_else(tmp_path):
    """stdout holds the key and nothing else (no log line, no banner), so `KEY=$(...)` works."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "pandaprobe.settings",
    }
    run = [sys.executable, "manage.py"]
    subprocess.run([*run, "migrate", "-v0"], cwd=REPO, env=env, check=True, capture_output=True)
    result = subprocess.run(
        [*run, "create_api_key", "--project", "cli"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert KEY_FORMAT.match(result.stdout.strip()) and result.stdout.count("\n") == 1


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True, is_superuser=True, username="root")


def test_admin_creates_a_key_and_shows_the_raw_key_once(client, staff, project):
    client.force_login(staff)
    response = client.post(
        "/admin/projects/apikey/add/", {"project": str(project.pk), "name": "from-admin", "is_active": "on"}
    )
    assert response.status_code == 200
    raw_key = re.search(r"sk_pp_[0-9a-f]{64}", response.content.decode()).group(0)
    key = ApiKey.objects.get(name="from-admin")
    assert key.key_hash == hashlib.sha256(raw_key.encode()).hexdigest()
    assert works(raw_key, project.name)
    # Once shown, no page shows it again.
    assert raw_key.encode() not in client.get(f"/admin/projects/apikey/{key.pk}/change/").content
    assert raw_key.encode() not in client.get("/admin/projects/apikey/").content


def test_admin_revoke_action_turns_keys_off(client, staff, project):
    one, two = (services.api_key_create(project=project) for _ in range(2))
    client.force_login(staff)
    response = client.post(
        "/admin/projects/apikey/",
        {"action": "revoke_keys", "_selected_action": [str(one.api_key.pk)]},
    )
    assert response.status_code == 302
    assert not works(one.raw_key, project.name)
    assert works(two.raw_key, project.name)
    assert ApiKey.objects.get(pk=one.api_key.pk).is_active is False


def test_admin_creates_an_access_token_and_shows_it_once(client, staff, reviewer, project):
    client.force_login(staff)
    response = client.post(
        "/admin/projects/personalaccesstoken/add/",
        {"user": str(reviewer.pk), "name": "cli", "is_active": "on"},
    )
    assert response.status_code == 200
    raw = re.search(r"pat_pp_[0-9a-f]{64}", response.content.decode()).group(0)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_X_PROJECT_ID=str(project.pk))
    assert api.get("/traces").status_code == 200


def test_admin_pages_load(client, staff, project):
    services.api_key_create(project=project)
    client.force_login(staff)
    for url in [
        "/admin/projects/project/",
        f"/admin/projects/project/{project.pk}/change/",
        "/admin/projects/apikey/",
        "/admin/projects/apikey/add/",
        "/admin/projects/membership/",
        "/admin/projects/personalaccesstoken/",
    ]:
        assert client.get(url).status_code == 200, url
