-- The ledger row of one import (a file, an upload or an API call), only for the caller's account (or an
-- admin key), with its quarantined rows and its field issues by reason.
-- Reads: import_file, import_quarantine, import_field_issue. Writes: nothing.
SELECT f.file_id, f.source_id, f.account_id, f.source_kind, f.status, f.reason_code, f.rows_read, f.inserted,
       f.updated, f.unchanged, f.duplicates, f.quarantined, f.review_items, f.reconciled, f.duplicate_of,
       f.registered_at, f.finished_at, f.reason_message, f.field_issue_rows,
       coalesce((SELECT jsonb_object_agg(q.reason_code, q.n) FROM (
                    SELECT reason_code, count(*) AS n FROM patient_pipeline.import_quarantine
                    WHERE file_id = f.file_id GROUP BY reason_code) q), '{}'::jsonb) AS quarantined_by_reason,
       coalesce((SELECT jsonb_object_agg(i.reason_code, i.n) FROM (
                    SELECT reason_code, count(*) AS n FROM patient_pipeline.import_field_issue
                    WHERE file_id = f.file_id GROUP BY reason_code) i), '{}'::jsonb) AS field_issues_by_reason
FROM patient_pipeline.import_file f
WHERE f.file_id = :file_id AND (CAST(:all_accounts AS boolean) OR f.account_id = :account_id)
