"""Rollback that loses nothing (the ``patient_first_rollback`` DAG) and the restore after it.

* :mod:`include.rollback.archive`   copy every patient and link into ``patient_pipeline``, verify, export;
* :mod:`include.rollback.downgrade` one revision per step, each re-checking the archive of what it drops;
* :mod:`include.rollback.verify`    target schema shape, legacy checksums, archive counts;
* :mod:`include.rollback.restore`   the next migration puts back what the backfill cannot derive;
* :mod:`include.rollback.steps`     the DAG's step functions.
"""
