"""The file side of retention, on local folders and object storage alike (``include.core.storage``):
PHI-bearing files of the runs root (quarantine exports, stewardship worklists, the rollback's archive
exports) and the deliveries in each source's ``processed/`` and ``rejected/`` past their ages.

Age is the file's modification time (object storage: its last-modified time). Symlinks are never followed
nor removed. Reports, GX results and Data Docs (ids and counts only) are not PHI and stay.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from include.core import storage

log = logging.getLogger(__name__)

#: Files of the runs root that hold PHI (everything else there holds ids and counts only).
PHI_SUFFIXES = (".csv", ".ndjson", ".ndjson.gz", ".csv.gz")
#: ``file_<id>_quarantine.csv``: an import file's quarantine export (kept while the file has open rows).
QUARANTINE_EXPORT = re.compile(r"(?:^|/)file_(\d+)_quarantine\.csv$")


@dataclass(frozen=True)
class Entry:
    location: str
    mtime: float  # seconds since the epoch


def _info_mtime(info: dict[str, Any]) -> float | None:
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str) and value:
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None


def list_files(location: str) -> Iterator[Entry]:
    """Every regular file under ``location`` (recursively; symlinks skipped), with its modification time."""
    if not storage.is_uri(location):
        root = Path(location)
        if not root.is_dir():
            return
        for current, dirs, files in os.walk(root, followlinks=False):
            dirs[:] = [d for d in dirs if not (Path(current) / d).is_symlink()]
            for name in files:
                st = os.lstat(Path(current) / name)
                if (st.st_mode & 0o170000) == 0o100000:  # a regular file, not a link
                    yield Entry(str(Path(current) / name), st.st_mtime)
        return
    p = storage.path(location)
    fs = p.fs
    fs.invalidate_cache()
    scheme = location.split("://", 1)[0]
    try:
        found = fs.find(p.path, detail=True)
    except FileNotFoundError:
        return
    for key, info in sorted(found.items()):
        if info.get("type", "file") != "file":
            continue
        mtime = _info_mtime(info)
        if mtime is None:
            log.warning("no modification time for an object under %s; kept", location)
            continue
        yield Entry(f"{scheme}://{key}", mtime)


def remove(entry: Entry) -> None:
    if storage.is_uri(entry.location):
        p = storage.path(entry.location)
        p.fs.rm_file(p.path)
    else:
        os.unlink(entry.location)


def remove_empty_folders(location: str, min_depth: int) -> int:
    """Local only: empty folders at least ``min_depth`` below ``location`` (object stores have none)."""
    if storage.is_uri(location) or not Path(location).is_dir():
        return 0
    root, n = Path(location), 0
    for current, _dirs, _files in sorted(os.walk(root, followlinks=False), key=lambda w: -len(w[0])):
        folder = Path(current)
        if len(folder.relative_to(root).parts) >= min_depth and not folder.is_symlink() and not any(folder.iterdir()):
            folder.rmdir()
            n += 1
    return n


@dataclass
class FileSweep:
    removed: int = 0
    kept_needed: int = 0
    kept_young: int = 0


def sweep_run_files(runs_root: str, cutoff: datetime, *, dry_run: bool,
                    open_quarantine: Callable[[list[int]], set[int]]) -> FileSweep:
    """PHI-bearing files of the runs root older than ``cutoff``; a quarantine export is kept while its
    import file still has open quarantine rows (``open_quarantine(file_ids)`` says which)."""
    out = FileSweep()
    old: list[Entry] = []
    for entry in list_files(runs_root):
        if not entry.location.endswith(PHI_SUFFIXES):
            continue
        if entry.mtime >= cutoff.timestamp():
            out.kept_young += 1
        else:
            old.append(entry)
    ids = {e.location: int(m.group(1)) for e in old if (m := QUARANTINE_EXPORT.search(e.location))}
    still_open = open_quarantine(sorted(set(ids.values())))
    for entry in old:
        if ids.get(entry.location) in still_open:
            out.kept_needed += 1
            continue
        if not dry_run:
            remove(entry)
        out.removed += 1
    if not dry_run:
        remove_empty_folders(runs_root, min_depth=2)  # run folders (<root>/<dag>/<run>) left empty
    return out


def sweep_deliveries(folder: str, cutoff: datetime, *, dry_run: bool) -> FileSweep:
    """Deliveries (and their ``.reason.json``) in one ``processed/`` or ``rejected/`` folder older than
    ``cutoff``. The ledger keeps what they were (SHA-256, size, counts, where they went)."""
    out = FileSweep()
    for entry in list_files(folder):
        if entry.mtime >= cutoff.timestamp():
            out.kept_young += 1
            continue
        if not dry_run:
            remove(entry)
        out.removed += 1
    return out
