"""Stewardship: act on what the pipeline could not decide alone (docs/contracts/operations.md §3).

One module per action family, plain functions on a connection (used by the ``patient_stewardship`` DAG
and by ``python -m include.cli steward ...``):

- ``review``: the review queues of the backfill and the imports: ``merge``, ``unmerge``,
  ``keep_separate`` (remembered: the same pair is never queued again), ``dismiss``;
- ``worklist``: quarantined rows (and field issues) as an owner-only CSV worklist; ``replay_corrections``
  through the normal import path;
- ``undo_import``: take one import file back (previous values restored, unlinked inserts removed);
- ``actions``: the action log (who, what, when; ids and counts only) and undoing a recorded action;
- ``request``: one request (action + ids or a decisions file, dry run, confirm) and its check;
  ``input_files``: the decisions / corrections files it may name; ``dispatch``: a request run under the
  pipeline lease, one transaction per action; ``report``: the run's report.

Every action runs in one transaction; a dry run computes the exact outcome and rolls it back. Logs,
reports, XComs and the CLI's output hold ids, counts and reason codes only.
"""
