"""The plumbing every area uses (migration, rollback, backfill, imports, benchmarks, demo).

* :mod:`include.core.settings`        project-wide constants and paths (no I/O at import time);
* :mod:`include.core.db`              the one way to reach the application database;
* :mod:`include.core.embedded_db`     the embedded PostgreSQL default under ``.pgdata/``;
* :mod:`include.core.locks`           lock-safe sessions: timeouts, bounded retries;
* :mod:`include.core.lease`           one writer at a time: the lease every pipeline DAG, the CLI and the UI share;
* :mod:`include.core.run_lifecycle`   the one run lifecycle of every DAG: lease setup, wait policy, report/release tail;
* :mod:`include.core.pipeline_schema` the ``patient_pipeline`` bookkeeping schema (no application table);
* :mod:`include.core.run_report`      per-run report folders (``report.md``, ``report.json``);
* :mod:`include.core.dag_support`     what the DAG files share: the task decorator, params, gates (light imports);
* :mod:`include.core.pipeline_dags`   the registry of the DAGs: ids, display names, report files, phases;
* :mod:`include.core.report_models`   what each run report holds, shared by its writer and the UI;
* :mod:`include.core.errors`          GenascopeError, the base of every package error, and the shared errors;
* :mod:`include.core.sql_files`       the one loader of include/sql/<area>/<name>.sql;
* :mod:`include.core.approvals`       the approvals before the irreversible steps (Airflow's human-in-the-loop);
* :mod:`include.core.db_errors`       database errors without row values: the wrapper every database step runs inside;
* :mod:`include.core.private_files`   owner-only files and folders (0600 / 0700) for anything that may hold PHI;
* :mod:`include.core.storage`         where the pipeline's files live: the runs root and landing, local or object storage;
* :mod:`include.core.pipeline_role`   the pipeline's least-privilege database role;
* :mod:`include.core.alembic_driver`  the alembic revisions run from Python on a connection we hand in;
* :mod:`include.core.run_records`     preflight and the run record (revision, contract, legacy checksums);
* :mod:`include.core.legacy_contract` docs/contracts/data-model.md §1 as data, and a check of a live database;
* :mod:`include.core.catalog`         snapshots of the live catalog (tables, columns, constraints, indexes);
* :mod:`include.core.checksums`       row counts and order-independent checksums of the legacy tables.

Importing this package imports nothing: DAG files import from it while they are parsed.
"""
