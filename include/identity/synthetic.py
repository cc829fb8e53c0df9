"""Generated records as the matcher's raw extract (what ``extract.py`` reads out of PostgreSQL), for the
evaluation, the default model's training and the benchmark: key forms applied as the database would."""

from __future__ import annotations

import csv
from pathlib import Path

from include.identity.generator import GenRecord
from include.identity.model import ID_SEP, NS_SEP
from include.normalize.keys import email_key, key_form


def write_raw_csv(records: list[GenRecord], path: Path, *, new_ids: set[str] | None = None) -> None:
    """One CSV row per record in ``model.RAW_COLUMNS`` order (owner-only file: it holds made-up PHI)."""
    with open(path, "w", newline="", encoding="utf-8", opener=lambda p, f: __import__("os").open(p, f, 0o600)) as fh:
        w = csv.writer(fh)
        for r in records:
            ids = ID_SEP.join(f"{ns}{NS_SEP}{v}" for ns, v in r.identifiers)
            w.writerow([r.record_id, key_form(r.first_name), key_form(r.last_name),
                        r.date_of_birth.isoformat() if r.date_of_birth else "", email_key(r.email) or "",
                        r.phone or "", ids, "true" if new_ids is None or r.record_id in new_ids else "false"])
