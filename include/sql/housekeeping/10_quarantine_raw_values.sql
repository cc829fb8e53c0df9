-- Retention: clear the raw values (PHI) of quarantined rows older than :cutoff that are resolved
-- (replayed, dismissed, file undone); the row itself stays (file, record number, reason code, field:
-- the counts and the audit). Open rows keep their values: a steward may still correct and replay them.
-- Reads/writes: import_quarantine. Returns: cleared (rows cleared), kept_open (old rows kept for review).
-- Safe to re-run: cleared rows have raw_values NULL and are not matched again.
WITH cleared AS (
    UPDATE patient_pipeline.import_quarantine q
       SET raw_values = NULL
     WHERE q.raw_values IS NOT NULL AND q.quarantined_at < :cutoff AND q.resolved_at IS NOT NULL
    RETURNING 1
)
SELECT (SELECT count(*) FROM cleared) AS cleared,
       (SELECT count(*) FROM patient_pipeline.import_quarantine k
         WHERE k.raw_values IS NOT NULL AND k.quarantined_at < :cutoff AND k.resolved_at IS NULL) AS kept_open
