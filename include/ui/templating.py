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
    env.filters["q"] = lambda v: quote(str(v), safe="")
    return env


def _num(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else ("yes" if value else "no")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def run_page_url(dag_id: str, run_id: str) -> str:
    """The run's page in the Airflow UI."""
    return f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
