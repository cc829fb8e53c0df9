"""Landing locations: find files in ``incoming/``, fingerprint them, move them to ``processed/`` or ``rejected/``.

A location is a local folder or any URI Airflow's ``ObjectStoragePath`` understands (``s3://...``,
``file://...``); both are handled through the same small path protocol (``iterdir``, ``open``, ``name``,
``mkdir``, ``exists``). Object storage support is imported only when a URI is used.

Confinement (docs/contracts/operations.md §5):

- a landing root given to a run (the DAG's ``landing_root`` Param or the Variable) must lie in the
  allow-list ``landing_roots`` of the sources YAML (or ``GENASCOPE_LANDING_ROOTS``); ``..`` is refused
  outright; checked before anything is read (:func:`check_landing_root`);
- a symlink in ``incoming/`` is never followed: listing uses ``lstat``, and each delivery is refused
  (reason ``symlink_refused``) whether it points inside or outside the landing; every local open uses
  ``O_NOFOLLOW`` and checks it holds a regular file; a delivery's resolved path must lie inside the
  resolved landing location (a symlinked ``incoming/`` or ``processed/`` folder is refused too);
- ``processed/``, ``rejected/``, moved deliveries and their ``.reason.json`` are owner-only (0700/0600).
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from include.core import private_files, settings
from include.core.errors import GenascopeError
from include.imports.sources import SourceConfig, load_landing_roots

log = logging.getLogger(__name__)

#: Files that are still being written, or are not deliveries (sidecars, dotfiles).
IGNORED_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload", ".reason.json")
BLOCK = 1 << 20
#: Replaces the YAML's ``landing_roots`` for a deployment (roots separated by commas).
LANDING_ROOTS_ENV = "GENASCOPE_LANDING_ROOTS"


class LandingError(GenascopeError, RuntimeError):
    """A landing location cannot be read or written; the message names the source and the folder."""


class LandingRefused(LandingError):
    """A landing root or a delivery the pipeline must not touch (outside the allow-list, ``..``, a symlink,
    not a regular file, resolving outside the landing). ``reason_code`` says which."""

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(f"{reason_code}: {message}")
        self.reason_code = reason_code


@dataclass(frozen=True)
class Fingerprint:
    sha256: str
    size: int


def _is_uri(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


def as_path(location: str | Any) -> Any:
    """A ``pathlib.Path`` for local paths, an ``ObjectStoragePath`` for URIs (other objects unchanged)."""
    if not isinstance(location, str):
        return location
    if _is_uri(location):
        from include.core import storage

        return storage.path(location)  # ObjectStoragePath, its filesystem attached (include/core/storage.py)
    return Path(location.removeprefix("file://"))


# --------------------------------------------------------------------------------------------- allow-list


def _local_root(root: str) -> str:
    root = root.removeprefix("file://")
    if not os.path.isabs(root):
        root = str(settings.PROJECT_ROOT / root)  # relative roots: from the project root
    return os.path.realpath(root)


def _uri_root(root: str) -> str:
    scheme, _, rest = root.partition("://")
    return f"{scheme.lower()}://{rest.strip('/')}"


def allowed_landing_roots() -> tuple[str, ...]:
    """The allow-list, normalized: local roots resolved (symlinks too), URI prefixes without a trailing /."""
    env = os.environ.get(LANDING_ROOTS_ENV, "").strip()
    roots = [r for r in env.split(",") if r.strip()] if env else list(load_landing_roots())
    return tuple(_uri_root(r.strip()) if _is_uri(r.strip()) else _local_root(r.strip()) for r in roots)


def _has_dotdot(location: str) -> bool:
    body = location.split("://", 1)[-1]
    return ".." in PurePosixPath(body.replace("\\", "/")).parts


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def check_landing_root(landing_root: str) -> str:
    """``landing_root`` normalized, if the allow-list holds it (equal to or under an allowed root);
    else :class:`LandingRefused`. Reads nothing under it."""
    raw = landing_root.strip()
    allowed = allowed_landing_roots()
    hint = (f"allowed roots: {', '.join(allowed) or 'none'} (landing_roots in the clinic sources YAML, or "
            f"{LANDING_ROOTS_ENV}); nothing was read")
    if _has_dotdot(raw):
        raise LandingRefused("landing_root_refused", f"landing_root may not contain '..'; {hint}")
    if _is_uri(raw):
        normalized = _uri_root(raw)
        ok = any(_is_uri(r) and _within(normalized, r) for r in allowed)
    else:
        normalized = _local_root(raw)
        ok = any(not _is_uri(r) and _within(normalized, r) for r in allowed)
    if not ok:
        raise LandingRefused("landing_root_refused", f"landing_root {normalized} is not in the allow-list; {hint}")
    return normalized


def landing_for(source: SourceConfig, landing_root: str | None = None) -> str:
    """The source's landing location; with ``landing_root`` (checked against the allow-list first),
    ``<root>/<last part of the configured one>``."""
    if not landing_root:
        return source.landing_path()
    root = check_landing_root(landing_root)
    return root.rstrip("/") + "/" + source.landing_path().rstrip("/").rsplit("/", 1)[-1]


# --------------------------------------------------------------------------------------------- deliveries


def _refuse_unsafe_folder(folder: Path, landing: Path, source_id: str) -> None:
    """``folder`` (incoming/, processed/, rejected/) must be a real folder resolving inside ``landing``."""
    if folder.is_symlink() or not _within(os.path.realpath(folder), os.path.realpath(landing)):
        raise LandingRefused("folder_outside_landing",
                             f"source {source_id}: {folder.name}/ is a symlink or resolves outside its landing "
                             "location; replace it with a real folder. Nothing was imported from it.")


def incoming_files(source: SourceConfig, landing_root: str | None = None) -> list[str]:
    """Deliveries waiting in ``<landing>/incoming`` (sorted by name: clinics name exports by date).

    Listing never follows a symlink: a symlinked entry is refused (logged with its reason code, left in
    place, not imported) whether it points inside or outside the landing; so is anything that is not a
    regular file (a FIFO, a device). Sub-folders are ignored."""
    landing = landing_for(source, landing_root)
    folder = as_path(landing + "/incoming")
    if not isinstance(folder, Path):
        if not folder.exists():
            return []
        files = [p for p in folder.iterdir()
                 if p.is_file() and not p.name.startswith(".") and not p.name.endswith(IGNORED_SUFFIXES)]
        return [str(p) for p in sorted(files, key=lambda p: p.name)]
    if not os.path.lexists(folder):
        return []
    _refuse_unsafe_folder(folder, folder.parent, source.id)
    files, refused = [], {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or entry.name.endswith(IGNORED_SUFFIXES):
                continue
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                continue
            if stat.S_ISLNK(st.st_mode):
                refused["symlink_refused"] = refused.get("symlink_refused", 0) + 1
            elif not stat.S_ISREG(st.st_mode):
                refused["not_a_regular_file"] = refused.get("not_a_regular_file", 0) + 1
            else:
                files.append(Path(entry.path))
    for reason, n in sorted(refused.items()):
        log.warning("source %s: %d entr%s of incoming/ refused (%s): a delivery must be a regular file, never a "
                    "symlink; nothing was read from it. Replace it with the file itself.", source.id, n,
                    "y" if n == 1 else "ies", reason)
    return [str(p) for p in sorted(files, key=lambda p: p.name)]


def check_delivery(location: str | Any, source: SourceConfig | None = None) -> None:
    """Refuse a delivery that is (now) a symlink, not a regular file, or resolves outside its landing;
    with ``source``, also one whose landing is neither the source's configured landing nor under an
    allowed root. Called again right before a file is read (it may have changed since discovery)."""
    path = as_path(location)
    if not isinstance(path, Path):
        if source is not None and not _is_allowed_landing(str(location).rsplit("/", 2)[0], source):
            raise LandingRefused("landing_root_refused", f"source {source.id}: the delivery's landing is not "
                                 "allowed (landing_roots); nothing was read")
        return
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return  # gone: the caller's exists() check reports it
    if stat.S_ISLNK(st.st_mode):
        raise LandingRefused("symlink_refused", "the delivery is a symlink; the pipeline never follows one "
                             "(nothing was read). Replace it with the file itself.")
    if not stat.S_ISREG(st.st_mode):
        raise LandingRefused("not_a_regular_file", "the delivery is not a regular file (nothing was read)")
    landing = path.parent.parent
    if path.parent.name != "incoming" or not _within(os.path.realpath(path), os.path.realpath(landing)):
        raise LandingRefused("outside_landing", "the delivery does not resolve inside its landing's incoming/ "
                             "folder (nothing was read)")
    if source is not None and not _is_allowed_landing(str(landing), source):
        raise LandingRefused("landing_root_refused", f"source {source.id}: the delivery's landing is neither the "
                             "configured one nor under an allowed root (landing_roots); nothing was read")


def _is_allowed_landing(landing: str, source: SourceConfig) -> bool:
    configured = source.landing_path()
    if _is_uri(landing):
        norm = _uri_root(landing)
        return (_is_uri(configured) and norm == _uri_root(configured)) or any(
            _is_uri(r) and _within(norm, r) for r in allowed_landing_roots())
    real = os.path.realpath(landing)
    return (not _is_uri(configured) and real == os.path.realpath(configured)) or any(
        not _is_uri(r) and _within(real, r) for r in allowed_landing_roots())


class NoFollowFile:
    """A local delivery for the readers: ``open("rb")`` uses ``O_NOFOLLOW`` and refuses a non-regular file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.name = self.path.name

    def open(self, mode: str = "rb") -> IO[bytes]:
        if mode != "rb":
            raise ValueError("deliveries are only read, in binary")
        return open_delivery(self.path)

    def __str__(self) -> str:
        return str(self.path)


def open_delivery(location: str | Any) -> IO[bytes]:
    """Open a delivery for reading: locally with ``O_NOFOLLOW`` (a symlink fails), regular files only."""
    path = as_path(location)
    if not isinstance(path, Path):
        return path.open("rb")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if os.path.islink(path):
            raise LandingRefused("symlink_refused", "the delivery is a symlink; nothing was read") from None
        raise LandingError(f"cannot open a delivery for reading ({type(exc).__name__})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise LandingRefused("not_a_regular_file", "the delivery is not a regular file; nothing was read")
    return os.fdopen(fd, "rb")


def reader_path(location: str | Any) -> Any:
    """What the readers get: a :class:`NoFollowFile` for local deliveries, the ObjectStoragePath otherwise."""
    path = as_path(location)
    return NoFollowFile(path) if isinstance(path, Path) else path


def fingerprint(location: str | Any) -> Fingerprint:
    """SHA-256 and size of the file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = 0
    with open_delivery(location) as fh:
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
    if isinstance(src, Path):
        check_delivery(src)
        if os.path.lexists(dest_dir):
            _refuse_unsafe_folder(dest_dir, src.parent.parent, "of this delivery")
    private_files.ensure_dir(dest_dir)
    dest = dest_dir / src.name
    if os.path.lexists(dest) if isinstance(dest, Path) else dest.exists():
        dest = dest_dir / f"{src.stem}.{file_id}{src.suffix}"
    if isinstance(src, Path):
        src.replace(dest)
        private_files.make_private(dest)  # the delivery keeps no upload mode (often 0644)
    else:
        src.move(dest)
    if sidecar is not None:
        private_files.write_json(dest_dir / f"{dest.name}.reason.json", sidecar, sort_keys=True)
    return str(dest)
