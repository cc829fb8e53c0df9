"""The database-step wrapper on a real server: a constraint violation leaves as DatabaseStepFailed with
SQLSTATE, constraint and relation names, and neither its message nor its traceback holds a value."""

from __future__ import annotations

import traceback

import pytest
import sqlalchemy as sa

from include.core import db_errors

ROW = ("leak.me@mail.example", "Leaky", "Rowvalue", "+15550100777")


@pytest.fixture
def table(engine):
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE people (email text, first_name text, last_name text, phone text, "
                             "CONSTRAINT ck_people_no_email CHECK (email IS NULL))"))
        conn.execute(sa.text("CREATE UNIQUE INDEX ux_people_phone ON people (phone)"))
    return engine


def _insert(conn, row=ROW):
    conn.execute(sa.text("INSERT INTO people VALUES (:e, :f, :l, :p)"), dict(zip("eflp", row, strict=True)))


def _rendered(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def test_a_check_violation_keeps_sqlstate_and_names_but_no_value(table):
    with pytest.raises(db_errors.DatabaseStepFailed) as failure, table.begin() as conn, \
            db_errors.db_step("insert_people", file_id=7):
        _insert(conn)
    exc = failure.value
    assert exc.sqlstate == "23514" and exc.condition == "CheckViolation"
    assert exc.names == {"schema": "public", "table": "people", "constraint": "ck_people_no_email"}
    text = _rendered(exc)
    assert "'insert_people' file_id=7" in text and "ck_people_no_email" in text
    assert exc.__cause__ is None and exc.__suppress_context__
    for value in ROW:
        assert value not in text
    assert "Failing row" not in text and "parameters" not in text


def test_a_unique_violation_under_a_project_error_is_scrubbed_from_the_chain(table):
    class Refused(RuntimeError):
        pass

    @db_errors.guard("merge")
    def step():
        with table.begin() as conn:
            conn.execute(sa.text("ALTER TABLE people DROP CONSTRAINT ck_people_no_email"))
        with table.begin() as conn:
            _insert(conn)
        try:
            with table.begin() as conn:
                _insert(conn)
        except sa.exc.IntegrityError as exc:
            raise Refused("merge refused: see SQLSTATE") from exc

    with pytest.raises(Refused) as failure:
        step()
    text = _rendered(failure.value)
    assert "UniqueViolation" in text and "ux_people_phone" in text and "23505" in text  # kept, sanitized
    for value in ROW:
        assert value not in text
    assert "Key (phone)" not in text


def test_a_syntax_error_keeps_its_primary_message(engine):
    with pytest.raises(db_errors.DatabaseStepFailed, match=r"42P01.*relation \"no_such_table\" does not exist"), \
            engine.connect() as conn, db_errors.db_step("read"):
        conn.execute(sa.text("SELECT * FROM no_such_table"))


def test_every_task_of_every_dag_runs_inside_the_database_step_wrapper(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    from include.core import settings

    bag = DagBag(dag_folder=str(settings.PROJECT_ROOT / "dags"))
    unwrapped = [f"{dag_id}.{t.task_id}" for dag_id, dag in bag.dags.items() for t in dag.tasks
                 if getattr(t, "python_callable", None) is not None
                 and not hasattr(t.python_callable, "__db_step__")]
    assert len(bag.dags) >= 3 and unwrapped == []
