"""What every benchmark needs: a PostgreSQL database, a production-like server, a key, CPU accounting.

Benchmarks run the service the way production does (gunicorn, DEBUG off, PostgreSQL, Redis broker
with a Dramatiq worker), each in a database of its own so they never touch development data.
Everything Django-side runs in subprocesses: `benchmarks/run.py` itself never imports the project.
"""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PYTHON = sys.executable
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def row(name: str, value, unit: str = "", target: str | None = None, ok: bool | None = None, **extra) -> dict:
    """One line of the results table; `ok` is None for figures without a target."""
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": ok, **extra}


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100), nearest-rank."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- PostgreSQL -----------------------------------------------------------------------------------


def database_url(server_url: str, name: str) -> str:
    """`server_url` (postgres://user@host:port[/anything]) pointed at database `name`."""
    return urlunparse(urlparse(server_url)._replace(path=f"/{name}"))


def database_ensure(server_url: str, name: str, *, fresh: bool = False) -> str:
    """Create database `name` if missing (dropped first when `fresh`); returns its URL."""
    import psycopg

    with psycopg.connect(database_url(server_url, "postgres"), autocommit=True) as connection:
        if fresh:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')
    return database_url(server_url, name)


# --- the service ----------------------------------------------------------------------------------


def server_env(database: str, *, redis_url: str, namespace: str, **extra: str) -> dict:
    """Production settings: DEBUG off, PostgreSQL, Redis broker, quiet logs; plain HTTP on loopback
    (no TLS proxy in front, so no redirect to HTTPS)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"}
    env.update(
        DEBUG="false",
        SECURE_SSL_REDIRECT="false",
        SECRET_KEY="benchmark-secret-key-not-for-production",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database,
        REDIS_URL=redis_url,
        DRAMATIQ_NAMESPACE=namespace,
        LOG_LEVEL="WARNING",
        **extra,
    )
    return env


def manage(*args: str, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    """`manage.py <args>` in the given environment; raises with its output when it fails."""
    done = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def child(env: dict, script: str, *argv: str) -> dict:
    """Run a benchmark `script` with `argv` in the server environment; its last line of output is JSON."""
    import json

    done = subprocess.run(
        [PYTHON, script, *argv],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "pandaprobe.settings"},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{Path(script).name} {' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def env_at_schema(server: str, args, *, database: str, namespace: str, migrate: str | None = None) -> dict:
    """The server environment on `database` (created if missing), migrated to the latest migrations,
    or back to `migrate` (`app:migration`, an older schema to compare with)."""
    env = server_env(
        database_ensure(server, database),
        redis_url=getattr(args, "redis_url", None) or "redis://127.0.0.1:6379/0",
        namespace=namespace,
    )
    manage("migrate", "--noinput", "-v0", env=env)
    if migrate:
        app, migration = migrate.split(":", 1)
        manage("migrate", app, migration, "--noinput", "-v0", env=env)
    return env


def migrations_pending(env: dict) -> bool:
    """True when the models have changes that no migration describes yet."""
    done = subprocess.run(
        [PYTHON, "manage.py", "makemigrations", "--check", "--dry-run", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
    )
    return done.returncode != 0


def api_key_issue(env: dict, project: str) -> str:
    return manage("create_api_key", "--project", project, "--name", "benchmark", env=env).stdout.strip()


def wait_for_http(url: str, *, timeout: float = 30, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@contextlib.contextmanager
def process(args: list[str], env: dict, *, log: Path) -> Iterator[subprocess.Popen]:
    """A background process, logging to `log`, stopped with SIGTERM (then SIGKILL) at the end."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as output:
        child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            yield child
        finally:
            child.terminate()
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def gunicorn_args(worker_class: str, workers: int, threads: int, port: int) -> list[str]:
    args = [PYTHON, "-m", "gunicorn", "pandaprobe.wsgi", "-w", str(workers), "--bind", f"127.0.0.1:{port}"]
    if worker_class == "gthread":
        args += ["--worker-class", "gthread", "--threads", str(threads)]
    return [*args, "--backlog", "2048", "--timeout", "60"]


def dramatiq_worker_args(processes: int = 1, threads: int = 2) -> list[str]:
    return [PYTHON, "manage.py", "rundramatiq", "--processes", str(processes), "--threads", str(threads)]


# --- CPU accounting from /proc --------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces; the fields after it are fixed.
    return [
        raw[: raw.index(" ")],
        raw[raw.index("(") + 1 : raw.rindex(")")],
        *raw[raw.rindex(")") + 2 :].split(),
    ]


def _processes() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command, CPU seconds used) for every process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            table[int(entry.name)] = (
                int(fields[3]),
                fields[1],
                (int(fields[13]) + int(fields[14])) / CLOCK_TICKS,
            )
    return table


def tree_cpu(root_pid: int, table: dict | None = None) -> float:
    """CPU seconds used so far by a process and its living descendants."""
    table = table or _processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    total, pending = 0.0, [root_pid]
    while pending:
        pid = pending.pop()
        total += table[pid][2] if pid in table else 0.0
        pending.extend(children.get(pid, []))
    return total


def command_cpu(command: str, table: dict | None = None) -> float:
    """CPU seconds used so far by every living process named `command` (e.g. postgres)."""
    return sum(cpu for _, name, cpu in (table or _processes()).values() if name == command)


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) / CLOCK_TICKS for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def busy_cores(seconds: float = 2.0) -> float:
    """How many cores the machine keeps busy right now, measured over `seconds`."""
    busy, total = machine_busy()
    time.sleep(seconds)
    busy2, total2 = machine_busy()
    return (busy2 - busy) / (total2 - total) * os.cpu_count()
