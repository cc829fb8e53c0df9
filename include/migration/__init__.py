"""The patient-first migration (the ``patient_first_migration`` DAG), as ``include.rollback`` is the rollback.

* :mod:`include.migration.driver` the alembic revisions run from Python on a connection we hand in.

The revisions themselves are ``include/migrations/`` (alembic's ``script_location``); the backfill and
the quality gates the DAG runs are ``include.backfill`` and ``include.gates``.
"""
