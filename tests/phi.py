"""The seeded PHI a test must never find in logs or output (e-mails, full names, phones)."""

from __future__ import annotations

import psycopg

from include.core import db
from include.normalize.keys import trim_noise

SEEDED_PHI_SQL = (
    "SELECT btrim(email) FROM invites UNION SELECT email FROM users WHERE lower(role) = 'patient' "
    "UNION SELECT first_name || ' ' || last_name FROM invites WHERE first_name IS NOT NULL "
    "AND last_name IS NOT NULL UNION SELECT name FROM users WHERE lower(role) = 'patient' "
    "UNION SELECT phone FROM invites WHERE length(phone) >= 7"
)


def seeded_phi(uri: str) -> set[str]:
    """Every seeded e-mail, full name and phone of at least 7 characters in the database at ``uri``, as
    seeded and trimmed of web-form noise (NBSP, zero-width characters: what the pipeline stores)."""
    with psycopg.connect(db.to_libpq_uri(uri)) as conn:
        rows = conn.execute(SEEDED_PHI_SQL).fetchall()
    values = {r[0] for r in rows if r[0]} | {trim_noise(r[0]) for r in rows if r[0]}
    return {v for v in values if len(v) >= 7}
