"""Tiny row builders for hand-written legacy data (every backfill test states its own rows) and
read-back helpers."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import sqlalchemy as sa

from include.backfill import BackfillOptions, run_all

T0 = datetime(2024, 1, 1, 12, 0, 0)


def at(days: int) -> datetime:
    """A fixed timestamp ``days`` after T0 (naive UTC, like the legacy columns)."""
    return T0 + timedelta(days=days)


class Legacy:
    """Writes legacy rows exactly as the old application did; defaults keep each test short."""

    def __init__(self, conn: sa.Connection):
        self.conn = conn
        self._seq = itertools.count(1)

    def _insert(self, table: str, row: dict) -> str:
        cols = ", ".join(row)
        vals = ", ".join(f":{c}" for c in row)
        self.conn.execute(sa.text(f"INSERT INTO {table} ({cols}) VALUES ({vals})"), row)
        self.conn.commit()
        return row["id"]

    def account(self, id: str, name: str = "Clinic") -> str:
        return self._insert("accounts", {"id": id, "name": name})

    def clinician(self, id: str, account_id: str | None, name: str = "Dr. Who Ever") -> str:
        return self._insert("users", {"id": id, "name": name, "email": f"{id}@clinic.test", "role": "clinician",
                                      "account_id": account_id})

    def user(self, id: str, name: str, email: str, *, role: str = "patient", account_id: str | None = None,
             clinician_id: str | None = None, created_at: datetime = T0) -> str:
        return self._insert("users", {"id": id, "name": name, "email": email, "role": role,
                                      "account_id": account_id, "clinician_id": clinician_id,
                                      "created_at": created_at})

    def profile(self, user_id: str, *, date_of_birth: datetime | None = None, phone: str | None = None) -> str:
        return self._insert("patient_profiles", {"id": f"pp-{user_id}", "user_id": user_id,
                                                 "date_of_birth": date_of_birth, "phone_number": phone})

    def invite(self, id: str, email: str, first_name: str | None = None, last_name: str | None = None, *,
               clinician_id: str | None = "clin-a", status: str | None = "pending", created_at: datetime = T0,
               user_id: str | None = None, phone: str | None = None, expires_at: datetime | None = None) -> str:
        return self._insert("invites", {
            "id": id, "email": email, "first_name": first_name, "last_name": last_name, "phone": phone,
            "invite_token": f"tok-{next(self._seq)}", "clinician_id": clinician_id, "user_id": user_id,
            "status": status, "created_at": created_at, "expires_at": expires_at})

    def chat(self, id: str, user_id: str) -> str:
        return self._insert("chat_sessions", {"id": id, "user_id": user_id})


def backfill(conn: sa.Connection, run_id: str = "run-1", **kw) -> object:
    return run_all(conn, BackfillOptions(run_id=run_id, **kw))


def patients(conn: sa.Connection) -> list[dict]:
    rows = conn.execute(sa.text(
        "SELECT id, account_id, clinician_id, email, first_name, last_name, phone, date_of_birth, status, user_id "
        "FROM patients ORDER BY account_id NULLS FIRST, lower(email), lower(first_name)")).mappings().all()
    conn.commit()
    return [dict(r) for r in rows]


def invite_links(conn: sa.Connection) -> dict[str, str | None]:
    rows = conn.execute(sa.text("SELECT id, patient_id FROM invites ORDER BY id")).all()
    conn.commit()
    return {r.id: r.patient_id for r in rows}


def patient_of(conn: sa.Connection, invite_id: str) -> dict:
    row = conn.execute(sa.text(
        "SELECT p.* FROM invites i JOIN patients p ON p.id = i.patient_id WHERE i.id = :i"), {"i": invite_id}
    ).mappings().one()
    conn.commit()
    return dict(row)
