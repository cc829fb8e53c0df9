"""The plugin's pages: Jinja2 templates from ``include/ui/templates/``, always autoescaped."""

from __future__ import annotations

from functools import cache
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from include.core import settings

TEMPLATES = settings.INCLUDE_DIR / "ui" / "templates"


@cache
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _num
    env.filters["plural"] = plural
    env.filters["count_or_num"] = lambda v: _num(len(v)) if isinstance(v, list) else _num(v)
    env.filters["q"] = lambda v: quote(str(v), safe="")
    return env


def _num(value: Any) -> str:
    """A value as people read it: thousands separators, yes/no, lists joined, mappings as ``key: value``
    pairs (never a Python repr), nothing as a dash."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else ("yes" if value else "no")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, dict):
        return "; ".join(f"{str(k).replace('_', ' ')}: {_num(v)}" for k, v in value.items()) or "—"
    if isinstance(value, (list, tuple, set)):
        return ", ".join(_num(v) for v in value) or "—"
    return str(value)


def plural(label: str, count: Any) -> str:
    """``"file" | plural(1)`` -> ``file``; any other count -> ``files`` (the last word is pluralized:
    ``'quarantined invite' | plural(2)`` -> ``quarantined invites``)."""
    try:
        one = int(count) == 1
    except (TypeError, ValueError):
        one = False
    if one:
        return label
    words = label.split(" ")
    last = words[-1]
    words[-1] = last + ("es" if last.endswith(("s", "x", "ch", "sh")) else "s")
    return " ".join(words)


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def run_page_url(dag_id: str, run_id: str) -> str:
    """The run's page in the Airflow UI."""
    return f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
