"""One error base class (issue 26): every exception type the package defines derives from
``include.core.errors.GenascopeError``, and no two of them share a name (one ``GateFailed``, one
``UnsafePath``, one ``ConfirmationMissing``). Read with ``ast``; checks the classes too."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = ROOT / "include"

BUILTIN_BASES = {"Exception", "RuntimeError", "ValueError", "OSError", "FileNotFoundError", "KeyError",
                 "LookupError", "TypeError", "OperationalError"}


def _base_name(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def _exception_classes() -> list[tuple[str, str, list[str]]]:
    found = []
    for path in sorted(INCLUDE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                bases = [_base_name(b) for b in node.bases]
                if any(b in BUILTIN_BASES or b.endswith(("Error", "Failed", "Exception")) for b in bases):
                    found.append((rel, node.name, bases))
    return found


def test_every_package_error_derives_from_the_one_base_class() -> None:
    names = {name for _, name, _ in _exception_classes()}
    offenders = [f"{rel}: {name}({', '.join(bases)})" for rel, name, bases in _exception_classes()
                 if not name.startswith("_") and name != "GenascopeError"
                 and not any(b in names and b not in BUILTIN_BASES for b in bases)]
    assert offenders == [], "derive these from include.core.errors.GenascopeError (or a package error):\n" + \
        "\n".join(offenders)


def test_no_two_error_types_share_a_name() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for rel, name, _ in _exception_classes():
        if not name.startswith("_"):
            where[name].append(rel)
    assert {n: p for n, p in where.items() if len(p) > 1} == {}


def test_the_shared_errors_are_what_each_caller_catches() -> None:
    from include.core import errors, locks, private_files
    from include.rollback.errors import RollbackError
    from include.stewardship.errors import StewardshipError
    from include.ui import run_files

    assert issubclass(errors.UnsafePath, OSError) and issubclass(errors.UnsafePath, ValueError)
    assert private_files.UnsafePath is errors.UnsafePath and run_files.UnsafePath is errors.UnsafePath
    assert issubclass(locks.PipelineBusy, errors.GenascopeError) and issubclass(locks.PipelineBusy, RuntimeError)
    assert issubclass(RollbackError, errors.GenascopeError) and issubclass(StewardshipError, errors.GenascopeError)
    failed = errors.GateFailed("gate x: FAILED, 2 rows", ["r"])
    assert failed.results == ["r"] and "2 rows" in str(failed)
