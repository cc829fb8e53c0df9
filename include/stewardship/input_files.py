"""The decisions and corrections files a request names: read only as a regular file (no symlink) under the
runs root or a landing location, at most ``MAX_INPUT_BYTES``; a decisions file parsed into requests."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from include.core import settings
from include.stewardship.errors import BadRequest
from include.stewardship.request import DECISION_ACTIONS, Request, validate

MAX_INPUT_BYTES = 50 * 1024 * 1024


def allowed_roots(extra: list[str] | None = None) -> list[str]:
    """Where a decisions or corrections file may be read: the runs root, the landing root Variable (passed
    by the DAG as ``extra``) and every configured source's landing location."""
    from include.imports.sources import load_sources

    roots = [str(settings.RUNS_DIR), *(extra or [])]
    roots += [s.landing_path().rstrip("/").rsplit("/", 1)[0] for s in load_sources().values()]
    return [r for r in roots if r]


def read_input_file(location: str, extra_roots: list[str] | None = None) -> str:
    """The text of a decisions / corrections file, refused unless it is a regular file (no symlink) under
    an allowed root."""
    from include.imports import landing

    roots = allowed_roots(extra_roots)
    if "://" in location and not location.startswith("file://"):
        if not any(location.startswith(r.rstrip("/") + "/") for r in roots if "://" in r):
            raise BadRequest("the input file is not under the runs root or a landing location")
        with landing.as_path(location).open("rb") as fh:
            data = fh.read(MAX_INPUT_BYTES + 1)
    else:
        path = Path(location.removeprefix("file://"))
        if not path.is_absolute():
            path = settings.PROJECT_ROOT / path
        if path.is_symlink() or not path.is_file():
            raise BadRequest("the input file does not exist or is not a regular file (symlinks are refused)")
        real = path.resolve()
        local_roots = [Path(r if os.path.isabs(r) else settings.PROJECT_ROOT / r).resolve()
                       for r in roots if "://" not in r]
        if not any(real.is_relative_to(r) for r in local_roots):
            raise BadRequest("the input file is not under the runs root or a landing location")
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise BadRequest(f"the input file is larger than {MAX_INPUT_BYTES} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("the input file is not UTF-8 text") from None


def parse_decisions(text: str) -> list[Request]:
    """A decisions file: a JSON list of objects (``{"action": "merge", "survivor_id": …, "merged_id": …}``,
    ``{"action": "keep_separate", "items": ["import:12"]}``, …) or a CSV with the columns
    ``action,survivor_id,merged_id,item,patient_a,patient_b,merge_action_id``."""
    stripped = text.strip()
    entries: list[dict[str, Any]]
    if stripped.startswith("["):
        try:
            entries = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"the decisions file is not valid JSON (line {exc.lineno})") from None
        if not all(isinstance(e, dict) for e in entries):
            raise BadRequest("every entry of the decisions JSON must be an object")
    else:
        entries = []
        for row in csv.DictReader(io.StringIO(stripped)):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            entry: dict[str, Any] = {k: row[k] for k in ("action", "survivor_id", "merged_id", "merge_action_id")
                                     if row.get(k)}
            if row.get("item"):
                entry["items"] = [row["item"]]
            if row.get("patient_a") or row.get("patient_b"):
                entry["patients"] = [row.get("patient_a", ""), row.get("patient_b", "")]
            entries.append(entry)
    if not entries:
        raise BadRequest("the decisions file holds no decisions")
    out = []
    for n, e in enumerate(entries, start=1):
        if e.get("action") not in DECISION_ACTIONS:
            raise BadRequest(f"decision {n}: action must be one of {', '.join(DECISION_ACTIONS)}")
        req = Request.from_params({**e, "dry_run": True})
        try:
            validate(req)
        except BadRequest as exc:
            raise BadRequest(f"decision {n}: {exc}") from None
        out.append(req)
    return out
