"""The patient-first migration (the ``patient_first_migration`` DAG), as ``include.rollback`` is the rollback.

* :mod:`include.migration.steps`           the DAG's steps as plain functions;
* :mod:`include.migration.runs`            preflight and the run record (revision, contract, legacy checksums);
* :mod:`include.migration.driver`          the alembic revisions run from Python on a connection we hand in;
* :mod:`include.migration.legacy_contract` docs/contracts/data-model.md §1 as data, and a check of a live database against it;
* :mod:`include.migration.catalog`         snapshots of the live catalog (tables, columns, constraints, indexes);
* :mod:`include.migration.checksums`       row counts and order-independent checksums of the legacy tables.

The revisions themselves are ``include/migrations/`` (alembic's ``script_location``); the backfill and
the quality gates the DAG runs are ``include.backfill`` and ``include.gates``.
"""
