"""A real ``airflow standalone`` (scheduler, dag-processor, triggerer, api-server) for the browser test:
its own AIRFLOW_HOME and SQLite metadata DB, bound to 127.0.0.1 on a free port, this project's DAGs and
plugin, one known admin password (written owner-only into the home, never printed).

It runs as ``python -m include.tools.airflow_local`` (``make airflow``'s command): the log servers of the
scheduler and the triggerer listen on 127.0.0.1, on free ports of their own, so two browser runs on one
machine do not clash.

Every process it starts carries :data:`MARKER` in its environment (children inherit it), in a session of
its own. At the end the whole tree is stopped: SIGINT to the session (the standalone command's own
shutdown), then SIGTERM, then SIGKILL after a grace period, to the session AND to every process that
carries the marker (a process that moved to a session of its own, or that ignores SIGTERM as
LocalExecutor workers do, is found that way too). :func:`leftover_processes` says what is still alive."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import httpx

from include.core import settings


@dataclass(frozen=True)
class AirflowServer:
    url: str
    user: str
    password: str
    home: Path
    log: Path

    marker: str = ""

    @cached_property
    def token(self) -> str:
        """A JWT from the simple auth manager's token endpoint (the REST API's login)."""
        response = httpx.post(f"{self.url}/auth/token", json={"username": self.user, "password": self.password},
                              timeout=120)
        response.raise_for_status()
        return response.json()["access_token"]

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.request(method, f"{self.url}/api/v2{path}", headers=headers, timeout=120, **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: The environment variable whose value (one per harness) marks every process the harness started.
MARKER = "GENASCOPE_BROWSER_HARNESS"
GRACE_S = 20


def _environ(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:  # gone, or not ours
        return b""


#: marker -> the session the harness started its ``airflow standalone`` in (its pid, start_new_session).
_SESSION_OF: dict[str, int] = {}


def _session(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])
    except (OSError, IndexError, ValueError):
        return None


def marked_processes(marker: str) -> list[int]:
    """Pids of live processes (not zombies) whose environment holds ``MARKER=marker``, or that still belong
    to the harness's session: a LocalExecutor worker rewrites its process title over its environment
    (setproctitle), so its /proc/PID/environ no longer shows the marker."""
    needle = f"{MARKER}={marker}".encode() + b"\0"
    session = _SESSION_OF.get(marker)
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        ours = needle in _environ(pid) + b"\0" or (session is not None and _session(pid) == session)
        if ours and _alive(pid):
            out.append(pid)
    return sorted(out)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def leftover_processes(marker: str) -> list[str]:
    """What is still alive of a harness's processes: ``pid command`` lines (empty when all are gone)."""
    out = []
    for pid in marked_processes(marker):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
        except OSError:
            continue
        out.append(f"{pid} {cmd}")
    return out


def _signal_all(session: int, marker: str, sig: int) -> None:
    try:
        os.killpg(session, sig)
    except ProcessLookupError:
        pass
    for pid in marked_processes(marker):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def stop_tree(proc: subprocess.Popen, marker: str, grace_s: float = GRACE_S) -> list[str]:
    """Stop everything the harness started (see the module docstring); returns what survived SIGKILL."""
    for sig, wait_s in ((signal.SIGINT, grace_s), (signal.SIGTERM, grace_s / 2), (signal.SIGKILL, 10)):
        _signal_all(proc.pid, marker, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if proc.poll() is not None and not marked_processes(marker):
                return []
            time.sleep(0.5)
    proc.poll()
    return leftover_processes(marker)


def _env(home: Path, port: int, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__") and k != "AIRFLOW_HOME"}
    url = f"http://127.0.0.1:{port}"
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__API__EXPOSE_CONFIG": "False",
        # the log servers of the worker and the triggerer: free ports too (another Airflow may run here),
        # on 127.0.0.1 (include/tools/airflow_local.py)
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
        "GX_ANALYTICS_ENABLED": "False",
        "PYTHONPATH": str(settings.PROJECT_ROOT),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    })
    env.update(extra)
    return env


@contextmanager
def airflow_standalone(home: Path, extra_env: dict[str, str], timeout_s: float = 600) -> Iterator[AirflowServer]:
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    port = free_port()
    marker = uuid.uuid4().hex
    env = _env(home, port, {**extra_env, MARKER: marker})
    password = secrets.token_urlsafe(16)
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({"admin": password}))
    passwords.chmod(0o600)
    log = home / "standalone.log"
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, cwd=settings.PROJECT_ROOT)
    subprocess.run([sys.executable, "-m", "include.tools.airflow_settings"], env=env, check=True,
                   stdout=subprocess.DEVNULL, cwd=settings.PROJECT_ROOT)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "include.tools.airflow_local"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, cwd=settings.PROJECT_ROOT, start_new_session=True)
    _SESSION_OF[marker] = proc.pid
    server = AirflowServer(f"http://127.0.0.1:{port}", "admin", password, home, log, marker)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"airflow standalone exited ({proc.returncode}); see {log}")
            try:
                dags = server.api("GET", "/dags", params={"dag_id_pattern": "patient_first"})
                if dags.status_code == 200 and {d["dag_id"] for d in dags.json()["dags"]} >= {
                        "patient_first_migration", "patient_first_rollback"}:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"airflow standalone not ready after {timeout_s:.0f}s; see {log}")
            time.sleep(2)
        yield server
    finally:
        survivors = stop_tree(proc, marker)
        if survivors:  # reported by the test's teardown check too; never left silently
            print(f"processes of the harness survived SIGKILL: {survivors}", file=sys.stderr)
