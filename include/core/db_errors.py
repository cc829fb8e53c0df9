"""Database errors without row values: the one wrapper every database step of every DAG runs inside.

PostgreSQL's error text can quote a patient row (``DETAIL: Failing row contains (…)``, ``Key (email)=(…)``,
``invalid input syntax for type date: "…"``) and SQLAlchemy appends the statement's ``[parameters: …]``.
Both would reach task logs, exceptions and the server's own log. :func:`db_step` turns any database
error into :class:`DatabaseStepFailed` whose message carries only what identifies the problem:

    the step, ids the caller names (``file_id=…``), the SQLSTATE and its condition name, and the schema,
    relation, column, constraint and data-type names from PostgreSQL's diagnostics.

The primary message is kept only for SQLSTATE classes whose messages never quote data (connection,
transaction rollback, syntax/privilege, resources, lock and statement timeouts). A project error raised
*because* of a database error (``raise X(...) from exc``) keeps its own (PHI-free) message, and the
database error under it is replaced by its sanitized form, so the traceback shows no row either.
Retry behaviour is unchanged: :class:`DatabaseStepFailed` is a plain error (Airflow retries it), an
``AirflowFailException`` stays one.

Use::

    with db_step("merge", file_id=file_id):      # inside a function
        ...

    @guard("upgrade_create_patients")            # or: a whole task body (dag_support.task does this)
    def upgrade(): ...

Engines are created with ``hide_parameters=True`` (include/core/db.py), so even an error that escaped this
wrapper would not print bound values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
import sqlalchemy as sa

from include.core.errors import GenascopeError

F = TypeVar("F", bound=Callable[..., Any])

#: SQLSTATE classes whose primary message names objects or conditions, never data values.
SAFE_MESSAGE_CLASSES = ("08", "25", "40", "42", "53", "55", "57", "58", "0A", "3D", "3F", "28")
_DIAG_FIELDS = ("schema_name", "table_name", "column_name", "constraint_name", "datatype_name")


class DatabaseStepFailed(GenascopeError, RuntimeError):
    """A database step failed. The message holds the step, ids, SQLSTATE and object names only."""

    def __init__(self, message: str, *, step: str, sqlstate: str | None, condition: str,
                 names: dict[str, str]) -> None:
        super().__init__(message)
        self.step = step
        self.sqlstate = sqlstate
        self.condition = condition
        self.names = names


def _database_error(exc: BaseException) -> BaseException | None:
    """The driver-level error of ``exc`` when it is a database error (SQLAlchemy-wrapped or not)."""
    if isinstance(exc, DatabaseStepFailed):
        return None
    if isinstance(exc, sa.exc.DBAPIError):
        return exc.orig if exc.orig is not None else exc
    if isinstance(exc, psycopg.Error):
        return exc
    if isinstance(exc, sa.exc.StatementError):  # a bind-processing error: its text holds the parameters
        return exc
    return None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text and text.strip() else ""


def describe(exc: BaseException) -> tuple[str | None, str, dict[str, str], str]:
    """(SQLSTATE, condition name, object names, safe primary message or "") of a database error."""
    orig = _database_error(exc) or exc
    sqlstate = getattr(orig, "sqlstate", None)
    diag = getattr(orig, "diag", None)
    names = {f.removesuffix("_name"): str(v) for f in _DIAG_FIELDS if (v := getattr(diag, f, None))}
    condition = type(orig).__name__
    message = ""
    if sqlstate and sqlstate[:2] in SAFE_MESSAGE_CLASSES:
        message = _first_line(getattr(diag, "message_primary", None) or "")
    elif sqlstate is None and isinstance(orig, psycopg.OperationalError):
        # connection failures (no server error yet): libpq's text names host, port and user, no values
        message = _first_line(str(orig))
    return sqlstate, condition, names, message


def sanitize(exc: BaseException, step: str, ids: dict[str, Any] | None = None) -> DatabaseStepFailed:
    """The PHI-free :class:`DatabaseStepFailed` for database error ``exc``."""
    sqlstate, condition, names, message = describe(exc)
    where = ", ".join(f"{k} {v}" for k, v in names.items())
    ids_text = "".join(f" {k}={v}" for k, v in (ids or {}).items() if v is not None)
    text = (f"database step {step!r}{ids_text} failed: SQLSTATE {sqlstate or 'none'} ({condition}"
            f"{', ' + where if where else ''})")
    if message:
        text += f": {message}"
    text += (". Row values are withheld (PHI); the object names above say where to look. Fix the cause and "
             "re-run the task: every step is safe to re-run.")
    return DatabaseStepFailed(text, step=step, sqlstate=sqlstate, condition=condition, names=names)


def _scrub_chain(exc: BaseException, step: str, ids: dict[str, Any] | None) -> bool:
    """Replace every database error in ``exc``'s cause/context chain by its sanitized form (in place).
    Returns True when something was replaced."""
    changed = False
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for attr in ("__cause__", "__context__"):
            link = getattr(current, attr)
            if link is not None and _database_error(link) is not None:
                clean = sanitize(link, step, ids)
                clean.__cause__ = clean.__context__ = None
                clean.__suppress_context__ = True
                setattr(current, attr, clean)
                changed = True
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return changed


def cleaned(exc: BaseException, step: str, ids: dict[str, Any] | None = None) -> BaseException:
    """What to raise instead of ``exc``: a :class:`DatabaseStepFailed` for a database error, else ``exc``
    itself with every database error in its chain sanitized."""
    if _database_error(exc) is not None:
        clean = sanitize(exc, step, ids)
        clean.__suppress_context__ = True
        return clean
    _scrub_chain(exc, step, ids)
    return exc


@contextmanager
def db_step(step: str, **ids: Any) -> Iterator[None]:
    """Run a block whose database errors leave as :class:`DatabaseStepFailed` (see the module docstring)."""
    try:
        yield
    except BaseException as exc:
        clean = cleaned(exc, step, ids)
        if clean is exc:
            raise
        raise clean from None


def guard(step: str, **ids: Any) -> Callable[[F], F]:
    """Decorator form of :func:`db_step` (keeps the signature, which Airflow inspects). The sanitized
    error is raised outside the ``except`` block, so it has no ``__context__`` at all."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except BaseException as exc:
                failure = cleaned(exc, step, ids)
                if failure is exc:
                    raise
            raise failure from None

        wrapper.__db_step__ = step  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


__all__ = ["DatabaseStepFailed", "cleaned", "db_step", "describe", "guard", "sanitize"]
