"""A worker with a disk of its own, on one machine: a private mount namespace (``unshare``).

``isolated(name, cmd, private)`` wraps a command so that it runs

* in its own mount namespace with private propagation (nothing it mounts is seen outside);
* in its own UTS namespace with hostname ``name`` (task instances record which worker ran them);
* with each folder of ``private`` bind-mounted from the worker's own working directory (e.g. the
  project's ``runs/`` and ``landing/``) and a fresh tmpfs on ``/tmp`` (the checkout stays visible in it
  when it lives under ``/tmp``),

so a file one worker writes to a local path is invisible to the other workers and to the API server,
exactly as on separate machines. It needs root (or CAP_SYS_ADMIN), as CI and this machine have.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from include.core import settings


def _fresh_tmp(keep: Sequence[Path]) -> list[str]:
    """Shell steps that put an empty tmpfs on ``/tmp`` in which the paths of ``keep`` under ``/tmp`` stay."""
    tmp = Path("/tmp")
    under_tmp = sorted({p for p in (Path(k).resolve() for k in keep) if tmp in p.parents})
    # outermost only: a kept path inside another kept path comes with it
    outermost = [p for p in under_tmp if not any(q in p.parents for q in under_tmp)]
    if not outermost:
        return ["mount -t tmpfs -o mode=1777 tmpfs /tmp"]
    steps = ["mount -t tmpfs -o mode=1777 tmpfs /mnt"]
    for path in outermost:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        inside = shlex.quote(str(Path("/mnt") / path.relative_to(tmp)))
        steps += [f"mkdir -p {inside}", f"mount --bind {shlex.quote(str(path))} {inside}"]
    steps.append("mount --move /mnt /tmp")
    return steps


def supported() -> bool:
    """True when this process may create mount and UTS namespaces."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "--uts", "--propagation", "private", "true"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


def isolated(name: str, cmd: Sequence[str], private: dict[Path, Path], *, private_tmp: bool = True,
             keep: Sequence[Path] = (settings.PROJECT_ROOT,)) -> list[str]:
    """``cmd`` wrapped to run as worker ``name``: ``private`` maps each shared path (the mount point, e.g.
    ``<project>/runs``) to the worker's own folder mounted over it. Both sides are created if missing.

    With ``private_tmp`` the worker gets a fresh, empty ``/tmp``. Paths under the old ``/tmp`` that must stay
    visible (``keep``: the checkout by default, and the worker's own folders) are bind-mounted into the new
    one: it is assembled on ``/mnt`` (private to this namespace) and then moved over ``/tmp``, so a checkout
    that lives under ``/tmp`` works like any other."""
    if not name.replace("-", "").isalnum():
        raise ValueError(f"worker name {name!r}: letters, digits and '-' only (it becomes the hostname)")
    steps = ["set -e", f"hostname {shlex.quote(name)}"]
    if private_tmp:  # first, so that private folders under /tmp are mounted on top of it
        steps.extend(_fresh_tmp([*keep, *private.values()]))
    for target, source in private.items():
        Path(source).mkdir(parents=True, exist_ok=True, mode=0o700)
        steps.append(f"mkdir -p {shlex.quote(str(target))}")
        steps.append(f"mount --bind {shlex.quote(str(source))} {shlex.quote(str(target))}")
    steps.append('exec "$@"')
    return ["unshare", "--mount", "--uts", "--propagation", "private", "--",
            "/bin/sh", "-c", "; ".join(steps), name, *cmd]
