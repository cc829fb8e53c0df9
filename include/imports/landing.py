"""Landing locations: find files in ``incoming/``, fingerprint them, move them to ``processed/`` or ``rejected/``.

A location is a local folder or any URI Airflow's ``ObjectStoragePath`` understands (``s3://...``,
``file://...``); both are handled through the same small path protocol (``iterdir``, ``open``, ``name``,
``mkdir``, ``exists``). Object storage support is imported only when a URI is used.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from include import settings
from include.imports.sources import SourceConfig

#: Files that are still being written, or are not deliveries (sidecars, dotfiles).
IGNORED_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload", ".reason.json")
BLOCK = 1 << 20


class LandingError(RuntimeError):
    """A landing location cannot be read or written; the message names the source and the folder."""


@dataclass(frozen=True)
class Fingerprint:
    sha256: str
    size: int


def as_path(location: str | Any) -> Any:
    """A ``pathlib.Path`` for local paths, an ``ObjectStoragePath`` for URIs (other objects unchanged)."""
    if not isinstance(location, str):
        return location
    if "://" in location and not location.startswith("file://"):
        from airflow.sdk import ObjectStoragePath

        return ObjectStoragePath(location)
    return Path(location.removeprefix("file://"))


def landing_for(source: SourceConfig, landing_root: str | None = None) -> str:
    """The source's landing location; with ``landing_root``, ``<root>/<last part of the configured one>``."""
    if not landing_root:
        return source.landing_path()
    if "://" not in landing_root and not os.path.isabs(landing_root):
        landing_root = str(settings.PROJECT_ROOT / landing_root)  # relative roots: from the project root
    return landing_root.rstrip("/") + "/" + source.landing_path().rstrip("/").rsplit("/", 1)[-1]


def incoming_files(source: SourceConfig, landing_root: str | None = None) -> list[str]:
    """Deliveries waiting in ``<landing>/incoming`` (sorted by name: clinics name exports by date)."""
    folder = as_path(landing_for(source, landing_root) + "/incoming")
    if not folder.exists():
        return []
    files = [p for p in folder.iterdir()
             if p.is_file() and not p.name.startswith(".") and not p.name.endswith(IGNORED_SUFFIXES)]
    return [str(p) for p in sorted(files, key=lambda p: p.name)]


def fingerprint(location: str | Any) -> Fingerprint:
    """SHA-256 and size of the file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = 0
    with as_path(location).open("rb") as fh:
        while block := fh.read(BLOCK):
            digest.update(block)
            size += len(block)
    return Fingerprint(digest.hexdigest(), size)


def exists(location: str | Any) -> bool:
    return as_path(location).exists()


def move(location: str | Any, folder: str, file_id: int, sidecar: dict[str, object] | None = None) -> str:
    """Move a delivery into ``folder`` (``processed``/``rejected`` next to ``incoming``); returns the new path.

    An existing file of the same name there is never overwritten: the new one gets ``.<file_id>`` before its
    suffix. ``sidecar`` (ids, counts and reason codes only) is written next to it as ``<name>.reason.json``.
    """
    src = as_path(location)
    dest_dir = src.parent.parent / folder
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / src.name
    if dest.exists():
        dest = dest_dir / f"{src.stem}.{file_id}{src.suffix}"
    if isinstance(src, Path):
        src.replace(dest)
    else:
        src.move(dest)
    if sidecar is not None:
        (dest_dir / f"{dest.name}.reason.json").write_text(json.dumps(sidecar, indent=2, sort_keys=True))
    return str(dest)
