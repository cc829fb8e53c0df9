"""``airflow standalone`` for one machine, with Airflow's log servers listening on 127.0.0.1 only.

Airflow 3.3 has no setting for the host of its log servers: the scheduler (LocalExecutor) and the
triggerer each start one on all interfaces (``[logging] worker_log_server_port`` / ``trigger_log_server_port``
set only the ports). ``make airflow`` and the browser test's harness run this instead of ``airflow
standalone``: the same command, but the scheduler and the triggerer start with ``--skip-serve-logs`` and
this module serves the same log-server app of Airflow on 127.0.0.1 at those two ports. The api-server,
on this machine, reads task logs from the files first anyway.

    python -m include.tools.airflow_local                  # standalone, log servers on 127.0.0.1
    python -m include.tools.airflow_local serve-logs PORT  # one log server (what the above starts, twice)
    python -m include.tools.airflow_local paused           # which DAGs are paused, how to turn on the import
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from include.core import pipeline_dags

LOG_SERVER_HOST = "127.0.0.1"


def serve_logs(port: int) -> None:
    """Airflow's own log-server app (worker and triggerer logs), bound to :data:`LOG_SERVER_HOST`."""
    import uvicorn
    from airflow.configuration import conf

    uvicorn.run("airflow.utils.serve_logs.log_server:get_app", factory=True, host=LOG_SERVER_HOST, port=port,
                log_level=conf.get("logging", "uvicorn_logging_level", fallback="info").lower(),
                log_config=None, access_log=False)


def log_server_ports() -> dict[str, int]:
    from airflow.configuration import conf

    return {"worker-logs": conf.getint("logging", "worker_log_server_port"),
            "trigger-logs": conf.getint("logging", "trigger_log_server_port", fallback=8794)}


def standalone() -> None:
    """``airflow standalone`` whose components start without their own log servers, plus two log servers
    on 127.0.0.1 shown in its output like the other components."""
    from airflow.cli.commands import standalone_command as sc

    class Component(sc.SubCommand):
        def __init__(self, parent, name: str, command: list[str], env: dict[str, str]) -> None:
            if name in ("scheduler", "triggerer"):
                command = [*command, "--skip-serve-logs"]
            super().__init__(parent, name, command, env)

    class LogServer(sc.SubCommand):
        def __init__(self, parent, name: str, port: int, env: dict[str, str]) -> None:
            super().__init__(parent, name, [], env)
            self.port = port

        def run(self) -> None:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "include.tools.airflow_local", "serve-logs", str(self.port)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env)
            for line in self.process.stdout:
                self.parent.output_queue.append((self.name, line))

    class Standalone(sc.StandaloneCommand):
        def run(self) -> None:
            env = self.calculate_env()
            servers = [LogServer(self, name, port, env) for name, port in log_server_ports().items()]
            for server in servers:
                self.print_output("standalone", f"{server.name} server on {LOG_SERVER_HOST}:{server.port}")
                server.start()
            try:
                super().run()
            finally:
                for server in servers:
                    server.stop()
                for server in servers:
                    server.join(timeout=10)

    sc.SubCommand = Component  # the standalone command builds its components with this name
    Standalone().run()


IMPORT_DAG = pipeline_dags.IMPORT.dag_id


def paused_notice() -> str:
    """What ``make airflow`` says before it starts: which DAGs are paused (from the metadata DB, read here in
    the CLI, never from a task) and how to turn on the nightly import."""
    from include.core import settings

    dag_ids = sorted(p.stem for p in (settings.PROJECT_ROOT / "dags").glob("*.py") if not p.name.startswith("_"))
    try:
        import sqlalchemy as sa
        from airflow.models.dag import DagModel
        from airflow.utils.session import create_session

        with create_session() as session:
            known = dict(session.execute(sa.select(DagModel.dag_id, DagModel.is_paused)
                                         .where(DagModel.dag_id.in_(dag_ids))).all())
    except Exception:  # no metadata DB yet: every DAG will be created paused
        known = {}
    paused = [d for d in dag_ids if known.get(d, True)]
    lines = [f"Paused DAGs: {', '.join(paused) if paused else 'none'}"
             + (" (new DAGs start paused)" if len(known) < len(dag_ids) else "") + ".",
             "  A paused DAG runs nothing, not even a run you trigger (it waits, queued): the trigger form's",
             "  \"Unpause … on trigger\" (on by default) unpauses it."]
    if IMPORT_DAG in paused:
        lines += [f"  The nightly import ({IMPORT_DAG}, 02:00 UTC) will NOT run until you unpause it:",
                  f"  its toggle in the UI, or: airflow dags unpause {IMPORT_DAG}",
                  "  Unpausing it (also from its trigger form) starts the night that is due at once."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m include.tools.airflow_local", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    logs = sub.add_parser("serve-logs", help="one Airflow log server on 127.0.0.1")
    logs.add_argument("port", type=int)
    sub.add_parser("paused", help="which DAGs are paused, and how to turn on the nightly import")
    args = parser.parse_args(argv)
    if args.command == "serve-logs":
        serve_logs(args.port)
    elif args.command == "paused":
        print(paused_notice())
    else:
        standalone()


if __name__ == "__main__":
    main()
