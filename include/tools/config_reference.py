"""Write the configuration reference (docs/reference/configuration.md) from the code itself.

``python -m include.tools.config_reference`` rewrites the page; ``--check`` only compares and exits 1
when the page is stale (``make docs`` and ``tests/tools/test_config_reference.py`` run it). Nothing is
imported: the modules are read with :mod:`ast`, so the page never depends on the environment it was
generated in. Three tables:

- every module-level setting of ``include/core/settings.py`` with its ``#:`` comment and its source
  expression (defaults read from the environment show the variable's name);
- every Airflow Variable the code reads (``Variable.get(NAME, default=…)``, NAME a literal or a module
  constant), with where it is read and its default there, and its value in ``airflow_settings.yaml``;
- every ``GENASCOPE_*`` environment variable the code reads (``os.environ.get``, ``os.getenv``,
  ``os.environ[...]``, or a helper called with the name as its first argument), with where and default.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
OUTPUT = PROJECT_ROOT / "docs" / "reference" / "configuration.md"
SETTINGS = PROJECT_ROOT / "include" / "core" / "settings.py"
SCANNED: tuple[str, ...] = ("include", "dags", "plugins")
ENV_NAME = re.compile(r"^GENASCOPE_[A-Z0-9_]*[A-Z0-9]$")
VARIABLE_NAME = re.compile(r"^genascope_[a-z0-9_]+$")


#: What a name means where the code reading it has no comment to take it from (the code's own comment wins).
NOTES = {
    "PROJECT_ROOT": "The checkout's root; every relative path below starts here.",
    "INCLUDE_DIR": "The importable package.",
    "SQL_DIR": "Set-based SQL files, one folder per area.",
    "ALEMBIC_INI": "alembic's configuration (script location include/migrations).",
    "APP_DB_POOL": "The Airflow pool bounding concurrent writers on the application database.",
    "ADVISORY_LOCK_OBJECT": "Second half of the advisory lock key.",
    "REV_BASELINE": "The legacy schema's revision (stamped on an existing production database).",
    "REV_CREATE_PATIENTS": "Runbook step 1: the patients table.",
    "REV_UPDATE_INVITES": "Runbook step 1: invites.patient_id and chat_sessions.patient_id.",
    "REV_UPDATE_PATIENTS": "Runbook step 1: patients.user_id.",
    "REV_FINALIZE_INVITES": "Runbook step 3: invites.patient_id NOT NULL (after every gate passed).",
    "ALL_REVISIONS": "Every revision of the contract, baseline first.",
    "LEGACY_TABLES": "The application's legacy tables (checksummed before and after a migration and a rollback).",
    "DEFAULT_STATEMENT_TIMEOUT_MS": "statement_timeout of DDL and bulk DML sessions.",
    "DEFAULT_LOCK_RETRIES": "How often a lock timeout is retried (jittered exponential backoff) before the step fails.",
    "genascope_landing_root": "Root of the clinic sources' landing folders (local folder or object-storage URI); must be "
    "in the allow-list (landing_roots / GENASCOPE_LANDING_ROOTS).",
    "genascope_lease_wait_seconds": "How long a run of any pipeline DAG waits for the pipeline lease another run holds "
    "before it fails with PipelineBusy (not retried); the one wait policy of include/core/run_lifecycle.py.",
    "genascope_runs_dir": "The runs root (reports, GX Data Docs, exports): a folder or s3://… URI; empty = "
    "GENASCOPE_RUNS_DIR, else runs/.",
    "GENASCOPE_AIRFLOW_API_PASSWORD": "Its password (with GENASCOPE_AIRFLOW_API_USERNAME; environment only).",
    "GENASCOPE_AIRFLOW_API_TOKEN": "A ready bearer token for Airflow's REST API instead of user and password.",
    "GENASCOPE_AIRFLOW_API_USERNAME": "Airflow user the intake API triggers imports as (a JWT is fetched from /auth/token).",
    "GENASCOPE_API_STATEMENT_TIMEOUT_MS": "statement_timeout of every API session.",
    "GENASCOPE_API_UPLOAD_SOURCE_PREFIX": "An account's upload source is the clinic source <prefix><account_id>.",
    "GENASCOPE_CELERY_API_PORT": "The api-server port of make airflow-celery.",
    "GENASCOPE_CELERY_BROKER_URL": "The Celery broker of make airflow-celery.",
    "GENASCOPE_CELERY_HOME": "Where make airflow-celery keeps its secrets, settings and logs (owner-only).",
    "GENASCOPE_CELERY_METADATA_SERVER": "PostgreSQL server URI for the Celery deployment's metadata database.",
    "GENASCOPE_CLINIC_SOURCES": "Another clinic sources YAML instead of include/config/clinic_sources.yaml.",
    "GENASCOPE_LANDING_ROOTS": "Allow-list of landing roots for a deployment (comma-separated), added to landing_roots.",
    "GENASCOPE_LOCK_RETRIES": "How often a lock timeout is retried before the step fails.",
    "GENASCOPE_STATEMENT_TIMEOUT_MS": "statement_timeout of DDL and bulk DML sessions.",
    "GENASCOPE_MOTO_PORT": "Port of the moto S3 server (0 = a free one).",
    "GENASCOPE_SHARED_LOCAL_ROOTS": "Local folders every worker and the API server mount at the same path (:-separated); "
    "accepted as runs root or landing on a non-local executor.",
    "GENASCOPE_STORAGE_CONN_ID": "Airflow connection for object storage (e.g. aws_default) instead of the standard AWS "
    "environment.",
    "GENASCOPE_DISTRIBUTED_TEST": "1 = run the CeleryExecutor deployment test (make test-distributed).",
    "GENASCOPE_TEST_BROKER_URL": "Redis for the distributed test.",
    "GENASCOPE_TEST_DATABASE_URL": "A second PostgreSQL server every database test also runs on (CI: the machine's 15).",
}


@dataclass
class Reads:
    """Where one name is read, with the default each place gives (source text)."""

    name: str
    places: list[str] = field(default_factory=list)
    defaults: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    def add(self, place: str, default: str | None, comment: str) -> None:
        if place not in self.places:
            self.places.append(place)
        if default is not None and default not in self.defaults:
            self.defaults.append(default)
        if comment and comment not in self.comments:
            self.comments.append(comment)


def _python_files(tops: tuple[str, ...] = SCANNED) -> list[Path]:
    files: list[Path] = []
    for top in tops:
        files.extend(p for p in sorted((PROJECT_ROOT / top).rglob("*.py")) if "__pycache__" not in p.parts)
    return files


def _comment_above(lines: list[str], lineno: int) -> str:
    """The ``#``/``#:`` comment block right above line ``lineno`` (1-based), joined into one line."""
    out: list[str] = []
    i = lineno - 2
    while i >= 0 and lines[i].strip().startswith("#"):
        out.insert(0, lines[i].strip().lstrip("#:").strip())
        i -= 1
    return " ".join(out)


def _module_constants(tree: ast.Module) -> dict[str, str]:
    """NAME = "literal" assignments at module level (to resolve Variable and env names)."""
    consts: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            if isinstance(node.value.value, str):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        consts[target.id] = node.value.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                consts[node.target.id] = node.value.value
    return consts


def _name_of(arg: ast.expr, consts: dict[str, str], all_consts: dict[str, str]) -> str | None:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.Name):
        return consts.get(arg.id, all_consts.get(arg.id))
    if isinstance(arg, ast.Attribute):
        return all_consts.get(arg.attr)
    return None


def _default_of(call: ast.Call, source: str) -> str | None:
    for kw in call.keywords:
        if kw.arg == "default":
            return ast.get_source_segment(source, kw.value)
    if len(call.args) > 1:
        return ast.get_source_segment(source, call.args[1])
    return None


def _class_fields(tree: ast.Module, source: str) -> dict[str, str]:
    """Class-level ``name: type = default`` fields (an env helper's default is often ``cls.name``)."""
    fields: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.value:
                    fields[item.target.id] = ast.get_source_segment(source, item.value) or ""
    return fields


def _resolve_field(default: str | None, fields: dict[str, str]) -> str | None:
    match = re.fullmatch(r"(?:cls|self)\.(\w+)", default or "")
    return fields.get(match.group(1), default) if match else default


def _docstring_line(tree: ast.Module, name: str) -> str:
    """What a settings table in the module docstring says about ``name`` (its row and continuations)."""
    lines = (ast.get_docstring(tree) or "").splitlines()
    for i, line in enumerate(lines):
        match = re.match(rf"``{re.escape(name)}``\s{{2,}}(.*)", line)
        if match:
            parts = [match.group(1)]
            for more in lines[i + 1 :]:
                if not more.startswith(" ") or not more.strip():
                    break
                parts.append(more.strip())
            return " ".join(" ".join(parts).split())
    return ""


def _is_variable_get(func: ast.expr) -> bool:
    return isinstance(func, ast.Attribute) and func.attr == "get" and (
        (isinstance(func.value, ast.Name) and func.value.id == "Variable")
        or (isinstance(func.value, ast.Attribute) and func.value.attr == "Variable")
    )


def _is_environ_get(func: ast.expr) -> bool:
    if isinstance(func, ast.Attribute) and func.attr == "getenv":
        return True
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "get"
        and isinstance(func.value, ast.Attribute)
        and func.value.attr == "environ"
    )


def scan(tops: tuple[str, ...] = SCANNED) -> tuple[dict[str, Reads], dict[str, Reads]]:
    """(Airflow Variables, GENASCOPE_* environment variables) read anywhere under ``tops``."""
    parsed: list[tuple[Path, str, ast.Module]] = []
    all_consts: dict[str, str] = {}
    for path in _python_files(tops):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
        parsed.append((path, source, tree))
        all_consts.update(_module_constants(tree))
    variables: dict[str, Reads] = {}
    env: dict[str, Reads] = {}
    for path, source, tree in parsed:
        lines = source.splitlines()
        consts = _module_constants(tree)
        fields = _class_fields(tree, source)
        rel = path.relative_to(PROJECT_ROOT).as_posix()
        for node in ast.walk(tree):
            place = rel
            if isinstance(node, ast.Call) and node.args:
                name = _name_of(node.args[0], consts, all_consts)
                if name is None:
                    continue
                comment = _comment_above(lines, node.lineno) or _docstring_line(tree, name)
                if _is_variable_get(node.func) and VARIABLE_NAME.match(name):
                    variables.setdefault(name, Reads(name)).add(place, _default_of(node, source), comment)
                elif ENV_NAME.match(name):
                    default = _resolve_field(_default_of(node, source), fields)
                    env.setdefault(name, Reads(name)).add(place, default, comment)
            elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute):
                if node.value.attr == "environ":
                    name = _name_of(node.slice, consts, all_consts)
                    if name and ENV_NAME.match(name):
                        comment = _comment_above(lines, node.lineno) or _docstring_line(tree, name)
                        env.setdefault(name, Reads(name)).add(place, None, comment)
    return variables, env


def settings_rows() -> list[tuple[str, str, str]]:
    """(name, source expression, its ``#:`` comment) for every module-level setting."""
    source = SETTINGS.read_text(encoding="utf-8")
    tree = ast.parse(source)
    lines = source.splitlines()
    rows = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            expr = " ".join((ast.get_source_segment(source, node.value) or "").split())
            trailing = lines[node.lineno - 1].split("#", 1)[1].strip() if "  #" in lines[node.lineno - 1] else ""
            comment = _comment_above(lines, node.lineno) or trailing
            rows.append((node.targets[0].id, expr, comment))
    return rows


def _settings_yaml_variables() -> dict[str, str]:
    data = yaml.safe_load((PROJECT_ROOT / "airflow_settings.yaml").read_text(encoding="utf-8"))
    return {
        v["variable_name"]: str(v.get("variable_value") or "")
        for v in (data.get("airflow", {}).get("variables") or [])
    }


def _cell(text: str) -> str:
    return text.replace("``", "`").replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _env_rows(out: list[str], env: dict[str, Reads]) -> None:
    for name in sorted(env):
        reads = env[name]
        defaults = ", ".join(_code(_cell(d)) for d in reads.defaults)
        places = ", ".join(f"`{p}`" for p in reads.places)
        notes = " ".join(reads.comments) or NOTES.get(name, "")
        out.append(f"| `{name}` | {defaults} | {places} | {_cell(notes)} |")


def render() -> str:
    variables, env = scan()
    yaml_vars = _settings_yaml_variables()
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m include.tools.config_reference` from the code; do not edit by hand. -->",
        "",
        "Generated from the code (`include/tools/config_reference.py` reads the modules with `ast`), so it",
        "lists what the code really reads. `make docs` and the test suite fail when this page is stale:",
        "run `python -m include.tools.config_reference` after adding a setting.",
        "",
        "The application database itself is the environment variable `AIRFLOW_CONN_GENASCOPE_DB` or the",
        "Airflow connection `genascope_db` (see [Getting started](../getting-started.md#which-database)); the",
        "clinic sources are `include/config/clinic_sources.yaml` (`GENASCOPE_CLINIC_SOURCES` points elsewhere).",
        "",
        "## Settings (`include/core/settings.py`)",
        "",
        "| name | value (source) | meaning |",
        "|---|---|---|",
    ]
    for name, expr, comment in settings_rows():
        out.append(f"| `{name}` | {_code(_cell(expr))} | {_cell(comment or NOTES.get(name, ''))} |")
    out += [
        "",
        "## Airflow Variables",
        "",
        "Set in the Airflow UI (Admin → Variables), with `airflow variables set`, or in `airflow_settings.yaml`",
        "(which `make airflow`, the demo and the tests apply).",
        "",
        "| Variable | default in the code | in `airflow_settings.yaml` | read in | notes |",
        "|---|---|---|---|---|",
    ]
    for name in sorted(set(variables) | set(yaml_vars)):
        reads = variables.get(name, Reads(name))
        defaults = ", ".join(_code(_cell(d)) for d in reads.defaults)
        in_yaml = _code(_cell(yaml_vars[name])) if yaml_vars.get(name) else ("(empty)" if name in yaml_vars else "")
        places = ", ".join(f"`{p}`" for p in reads.places) or "(not read by the code)"
        notes = " ".join(reads.comments) or NOTES.get(name, "")
        out.append(f"| `{name}` | {defaults} | {in_yaml} | {places} | {_cell(notes)} |")
    out += [
        "",
        "## Environment variables (`GENASCOPE_*`)",
        "",
        "Read from the environment of the process that needs them (an Airflow task, the API server, the CLI).",
        "",
        "| variable | default in the code | read in | notes |",
        "|---|---|---|---|",
    ]
    _env_rows(out, env)
    _, test_env = scan(("tests",))
    out += [
        "",
        "## Environment variables of the test suite",
        "",
        "Read by `tests/` only (`make test`, `make test-distributed`).",
        "",
        "| variable | default in the code | read in | notes |",
        "|---|---|---|---|",
    ]
    _env_rows(out, {k: v for k, v in test_env.items() if k not in env})
    out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the page is not up to date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.relative_to(PROJECT_ROOT)} is stale: run python -m include.tools.config_reference")
            return 1
        print(f"{OUTPUT.relative_to(PROJECT_ROOT)} is up to date")
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
