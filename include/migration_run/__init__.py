"""A patient-first migration run (the ``patient_first_migration`` DAG), as ``include.rollback`` is the rollback.
(Named ``migration_run`` so it is not read as ``include/migrations/``, alembic's revisions.)

* :mod:`include.migration_run.steps`  the DAG's steps as plain functions;
* :mod:`include.migration_run.tasks`  the DAG's task ids the steps and the report refer to;
* :mod:`include.migration_run.report` the run report (sections, the report while an approval waits).

The schema plumbing it shares with the rollback, the imports, the seed and the UI is in ``include.core``
(``alembic_driver``, ``run_records``, ``legacy_contract``, ``catalog``, ``checksums``); the revisions
themselves are ``include/migrations/`` (alembic's ``script_location``); the backfill and the quality gates
the DAG runs are ``include.backfill`` and ``include.gates``.
"""
