-- The patients an identity_conflict row of one delivery collides with: both patient ids of its review item
-- (review_conflicts.sql for conflicts decided in SQL, mark_identity_conflict.sql for a merge's 23505).
-- Ids only, so the caller can name them.
-- Reads: import_review. Writes: nothing.
SELECT DISTINCT r.record_no, x.patient_id
FROM patient_pipeline.import_review r
CROSS JOIN LATERAL unnest(ARRAY[r.patient_id, r.candidate_patient_id]) AS x (patient_id)
WHERE r.file_id = :file_id AND r.kind = 'identity_conflict' AND x.patient_id IS NOT NULL
ORDER BY r.record_no, x.patient_id
