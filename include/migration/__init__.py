"""The patient-first migration (the ``patient_first_migration`` DAG), as ``include.rollback`` is the rollback.

* :mod:`include.migration.steps`  the DAG's steps as plain functions.

The schema plumbing it shares with the rollback, the imports, the seed and the UI is in ``include.core``
(``alembic_driver``, ``run_records``, ``legacy_contract``, ``catalog``, ``checksums``); the revisions
themselves are ``include/migrations/`` (alembic's ``script_location``); the backfill and the quality gates
the DAG runs are ``include.backfill`` and ``include.gates``.
"""
