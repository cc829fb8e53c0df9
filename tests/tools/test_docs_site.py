"""The docs say only what is true of the repository: every file path, module, setting, Variable and make
target they name exists, the configuration reference is the one the code generates, and the site builds
strictly (mkdocs --strict: no broken link, no page missing from the nav)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from include.core import settings
from include.tools import config_reference

ROOT = settings.PROJECT_ROOT
DOCS = ROOT / "docs"
PAGES = sorted([ROOT / "README.md", *DOCS.rglob("*.md")])
CODE_DIRS = ("include", "dags", "plugins", "tests")

# A repository path: starts at a top-level folder of the project, ends in a file name or a folder slash.
PATH = re.compile(r"(?<![\w./-])((?:include|dags|plugins|tests|docs|\.ci)/[\w./-]*[\w/])")
TOP_FILES = re.compile(
    r"`(Makefile|BENCHMARKS\.md|README\.md|requirements\.txt|alembic\.ini|airflow_settings\.yaml|mkdocs\.yml|"
    r"pyproject\.toml)`"
)
MODULE = re.compile(r"(?<![\w.])(include(?:\.\w+)+)")
ENV = re.compile(r"\bGENASCOPE_[A-Z0-9_]*[A-Z0-9]\b")
NAME = re.compile(r"\bgenascope_[a-z0-9_]*[a-z0-9]\b")
SETTING = re.compile(r"`((?:DEFAULT|REV)_[A-Z_]+|[A-Z][A-Z_]+_(?:DIR|INI|SCHEMA|POOL|CONN_ID|ORDER|TABLES))`")
MAKE = re.compile(r"(?:`|^|\$ )make ([a-z][a-z-]*)\b", re.M)


def _code_text() -> str:
    parts = []
    for top in CODE_DIRS:
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and path.suffix in {".py", ".sql", ".yaml", ".yml", ".html", ".json"}:
                parts.append(path.read_text(encoding="utf-8", errors="replace"))
    for name in ("Makefile", "airflow_settings.yaml", ".ci/run"):
        parts.append((ROOT / name).read_text(encoding="utf-8"))
    return "\n".join(parts)


CODE = _code_text()


def _page_id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _named_paths(text: str) -> set[str]:
    found = set()
    for match in PATH.finditer(text):
        path = match.group(1).rstrip(".")
        if any(c in path for c in "<>*{}…$") or "//" in path:
            continue
        found.add(path)
    return found


def _exists(path: str, page: Path) -> bool:
    candidates = [ROOT / path, page.parent / path]
    return any(c.exists() for c in candidates)


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_file_path_the_docs_name_exists(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    missing = sorted(p for p in _named_paths(text) if not _exists(p, page))
    missing += sorted(m.group(1) for m in TOP_FILES.finditer(text) if not (ROOT / m.group(1)).exists())
    assert not missing, f"{_page_id(page)} names paths that do not exist: {missing}"


def _module_exists(dotted: str) -> bool:
    """``include.a.b.c``: the longest importable prefix is a module or package, and what follows it (at
    most two names: a function or class and its attribute) is left to the reader."""
    parts = dotted.split(".")
    for n in range(len(parts), 1, -1):
        rel = Path(*parts[:n])
        if (ROOT / rel).with_suffix(".py").is_file() or (ROOT / rel / "__init__.py").is_file():
            return len(parts) - n <= 2
    return False


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_module_the_docs_name_exists(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    missing = sorted({m.group(1) for m in MODULE.finditer(text) if not _module_exists(m.group(1).rstrip("."))})
    assert not missing, f"{_page_id(page)} names modules that do not exist: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_setting_variable_and_environment_variable_the_docs_name_is_in_the_code(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    names = set(ENV.findall(text)) | set(NAME.findall(text)) | {m.group(1) for m in SETTING.finditer(text)}
    missing = sorted(n for n in names if n not in CODE)
    assert not missing, f"{_page_id(page)} names settings the code never mentions: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_make_target_the_docs_name_exists(page: Path) -> None:
    targets = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M))
    named = set(MAKE.findall(page.read_text(encoding="utf-8")))
    assert not named - targets, f"{_page_id(page)} names make targets that do not exist: {sorted(named - targets)}"


def test_the_configuration_reference_is_the_one_the_code_generates() -> None:
    assert config_reference.OUTPUT.read_text(encoding="utf-8") == config_reference.render(), (
        "docs/reference/configuration.md is stale: run python -m include.tools.config_reference"
    )


def test_the_configuration_reference_lists_every_environment_variable_the_code_reads() -> None:
    page = config_reference.OUTPUT.read_text(encoding="utf-8")
    read = set(re.findall(r"""environ(?:\.get)?[\[(]\s*["'](GENASCOPE_[A-Z0-9_]+)["']""", CODE))
    assert read, "the scan found no environment variable at all"
    assert not {n for n in read if f"`{n}`" not in page}


def test_every_docs_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert not {p for p in pages if p not in nav}


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs not installed")
def test_the_docs_site_builds_strictly(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "configuration.html").is_file()
