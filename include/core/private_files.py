"""Owner-only files and folders: the one place the pipeline creates anything that may hold PHI.

Run folders, reports, quarantine exports, GX results and Data Docs, archive exports, the landing's
``processed/`` and ``rejected/`` folders and the deliveries moved into them are created through these
functions: files ``0600``, folders ``0700``, whatever the process umask. Nothing here follows a symlink
when it creates or tightens a file (``O_NOFOLLOW``).

On local storage the modes are POSIX modes. A path that is not a local ``pathlib.Path`` (an Airflow
``ObjectStoragePath`` on ``s3://``/``gs://``) has no POSIX modes: it is created through its own
``mkdir``/``open`` and access is the bucket's policy. Moving the runs root to object storage means
adapting only this module.

API (what every writer uses)::

    ensure_dir(path, within=None) -> path        # mkdir -p, 0700 (and every folder from ``within`` down)
    open_private(path, mode="w", **kw)           # a new/truncated file, 0600 (text or binary modes)
    write_text(path, text) / write_bytes(path, data) / write_json(path, data)
    copy_file(src, dest)                         # copy bytes into a new 0600 file (no symlink followed)
    make_private(path)                           # tighten an existing regular file to 0600
    restrict_tree(path)                          # a folder written by a library (GX): 0700 dirs, 0600 files
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import IO, Any

from include.core.errors import UnsafePath

FILE_MODE = 0o600
DIR_MODE = 0o700


def is_local(path: Any) -> bool:
    """True for local paths (``str``, ``os.PathLike``, ``file://`` ObjectStoragePath)."""
    if isinstance(path, (str, os.PathLike)) and not (isinstance(path, str) and "://" in path
                                                      and not path.startswith("file://")):
        return True
    return getattr(path, "protocol", None) in ("file", "local")


def _local(path: Any) -> Path:
    if isinstance(path, str):
        return Path(path.removeprefix("file://"))
    if isinstance(path, os.PathLike):
        return Path(path)
    return Path(str(getattr(path, "path", path)).removeprefix("file://"))


def ensure_dir(path: Any, within: Any = None) -> Any:
    """Create ``path`` (and missing parents) as 0700 folders; tighten ``path`` itself to 0700.

    With ``within`` (an ancestor, e.g. the runs root), every folder from ``within`` down to ``path`` is
    tightened to 0700 too; folders above ``within`` that already existed are left as they are (never
    chmod a shared parent such as ``/tmp``). A symlink where a folder should be is refused.
    """
    if not is_local(path):
        path.mkdir(parents=True, exist_ok=True)
        return path
    target = _local(path)
    missing = []
    probe = target
    while not os.path.lexists(probe):
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:  # created meanwhile by another task
            pass
    chain = [target]
    if within is not None:
        root = _local(within)
        if target != root and root in target.parents:
            chain = [root, *[p for p in reversed(target.parents) if root in p.parents], target]
        elif target == root:
            chain = [root]
    for folder in {*chain, *missing}:
        _chmod_dir(folder)
    return path


def _chmod_dir(folder: Path) -> None:
    st = os.lstat(folder)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(f"{folder} should be a folder but is a symlink or a file; refusing to write into it")
    if stat.S_IMODE(st.st_mode) != DIR_MODE and st.st_uid == os.geteuid():
        os.chmod(folder, DIR_MODE)


def _open_fd(target: Path, flags: int) -> int:
    fd = os.open(target, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePath(f"{target} is not a regular file; refusing to write it")
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private(path: Any, mode: str = "w", **kwargs: Any) -> IO[Any]:
    """Open ``path`` for writing as an owner-only file (created 0600, or truncated and tightened to 0600).

    ``mode`` is ``"w"``/``"wb"`` (truncate) or ``"a"``/``"ab"`` (append); ``kwargs`` go to ``open``
    (``encoding``, ``newline``). The parent folder must exist (see :func:`ensure_dir`).
    """
    if mode not in ("w", "wb", "a", "ab", "x", "xb"):
        raise ValueError(f"open_private writes only; unsupported mode {mode!r}")
    if not is_local(path):
        return path.open(mode, **kwargs)
    flags = os.O_WRONLY | os.O_CREAT
    flags |= {"w": os.O_TRUNC, "a": os.O_APPEND, "x": os.O_EXCL}[mode[0]]
    fd = _open_fd(_local(path), flags)
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    return os.fdopen(fd, mode, **kwargs)


def write_bytes(path: Any, data: bytes) -> Any:
    with open_private(path, "wb") as fh:
        fh.write(data)
    return path


def write_text(path: Any, text: str, encoding: str = "utf-8") -> Any:
    with open_private(path, "w", encoding=encoding) as fh:
        fh.write(text)
    return path


def write_json(path: Any, data: Any, **dumps_kwargs: Any) -> Any:
    dumps_kwargs.setdefault("indent", 2)
    dumps_kwargs.setdefault("default", str)
    return write_text(path, json.dumps(data, **dumps_kwargs))


def copy_file(src: Any, dest: Any) -> Any:
    """Copy ``src``'s bytes into a new owner-only ``dest`` (``src`` is opened without following a symlink)."""
    if is_local(src):
        fd = os.open(_local(src), os.O_RDONLY | os.O_NOFOLLOW)
        reader = os.fdopen(fd, "rb")
    else:
        reader = src.open("rb")
    with reader, open_private(dest, "wb") as out:
        shutil.copyfileobj(reader, out, 1 << 20)
    return dest


def make_private(path: Any) -> Any:
    """Tighten an existing regular file to 0600 (a delivery moved into processed/); refuses a symlink."""
    if not is_local(path):
        return path
    fd = os.open(_local(path), os.O_RDONLY | os.O_NOFOLLOW)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePath(f"{path} is not a regular file")
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def restrict_tree(path: Any) -> Any:
    """Make a folder a library wrote (GX Data Docs) owner-only: 0700 folders, 0600 files; symlinks removed.

    Create the folder with :func:`ensure_dir` *before* the library writes into it, so nobody else can
    traverse it even while the library's own files still have the umask's mode.
    """
    if not is_local(path):
        return path
    root = _local(path)
    if not root.exists():
        return path
    _chmod_dir(root)
    for current, dirs, files in os.walk(root, followlinks=False):
        for name in dirs:
            child = Path(current) / name
            if child.is_symlink():
                child.unlink()
            else:
                _chmod_dir(child)
        for name in files:
            child = Path(current) / name
            if child.is_symlink():
                child.unlink()
            else:
                make_private(child)
    return path


def mode_of(path: Any) -> int:
    """The permission bits of a local path (``lstat``: a symlink's own)."""
    return stat.S_IMODE(os.lstat(_local(path)).st_mode)


__all__ = ["DIR_MODE", "FILE_MODE", "copy_file", "ensure_dir", "is_local", "make_private",
           "mode_of", "open_private", "restrict_tree", "write_bytes", "write_json", "write_text"]
