"""Apply ``airflow_settings.yaml`` (Astro CLI format) to the Airflow metadata DB: connections, pools,
variables. Idempotent. Runs outside tasks (``make airflow``, the demo, the tests), never inside one.

    python -m include.tools.airflow_settings [path]
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from include.core import settings

DEFAULT_PATH = settings.PROJECT_ROOT / "airflow_settings.yaml"


@dataclass(frozen=True)
class AppliedSettings:
    connections: tuple[str, ...]
    pools: tuple[str, ...]
    variables: tuple[str, ...]


def load(path: Path = DEFAULT_PATH) -> dict:
    data = yaml.safe_load(Path(path).read_text()) or {}
    return data.get("airflow") or {}


def apply(path: Path = DEFAULT_PATH) -> AppliedSettings:
    # This is set-up code writing the metadata DB directly (never a task), so it uses the ORM models;
    # the Task SDK's Connection/Variable (AIR311's suggestion) only work inside a running task.
    from airflow.models import Connection, Pool, Variable  # noqa: AIR311
    from airflow.utils.session import create_session

    cfg = load(path)
    conns, pools, variables = [], [], []
    with create_session() as session:
        for c in cfg.get("connections") or []:
            extra = c.get("conn_extra")
            model = Connection  # noqa: AIR311 (ORM model, see above)
            existing = session.query(model).filter(model.conn_id == c["conn_id"]).one_or_none()
            conn = existing or model(conn_id=c["conn_id"])
            conn.conn_type = c.get("conn_type")
            conn.host = c.get("conn_host")
            conn.schema = c.get("conn_schema")
            conn.login = c.get("conn_login")
            conn.password = c.get("conn_password")
            conn.port = c.get("conn_port")
            conn.extra = json.dumps(extra) if isinstance(extra, dict) else extra
            if existing is None:
                session.add(conn)
            conns.append(c["conn_id"])
        for p in cfg.get("pools") or []:
            Pool.create_or_update_pool(
                name=p["pool_name"], slots=int(p["pool_slot"]), description=p.get("pool_description") or "",
                include_deferred=False, session=session,
            )
            pools.append(p["pool_name"])
    for v in cfg.get("variables") or []:
        if v.get("variable_name"):
            Variable.set(v["variable_name"], v.get("variable_value"))  # noqa: AIR311 (ORM model, see above)
            variables.append(v["variable_name"])
    return AppliedSettings(tuple(conns), tuple(pools), tuple(variables))


def main(argv: list[str]) -> int:
    applied = apply(Path(argv[0]) if argv else DEFAULT_PATH)
    print(f"airflow_settings.yaml applied: connections={list(applied.connections)} "
          f"pools={list(applied.pools)} variables={list(applied.variables)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
