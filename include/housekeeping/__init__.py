"""Retention (the ``pipeline_housekeeping`` DAG): PHI the pipeline no longer needs is removed past
configurable ages; ledgers, audits, reports and counts stay.

- :mod:`.settings`: the ages (Airflow Variable ``genascope_retention``, validated);
- :mod:`.database`: quarantine raw values, previous values past the undo window, expired idempotency
  rows (set-based SQL in ``include/sql/housekeeping/``);
- :mod:`.files`: PHI-bearing files in the runs root, processed and rejected deliveries (local folders or
  object storage);
- :mod:`.runner`: one sweep end to end and its report.
"""
