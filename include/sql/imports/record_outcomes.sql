-- Every record's outcome of one delivery, after its merge: inserted / updated / unchanged / duplicate /
-- quarantined, the patient it created or matched, and the reason code and field of a quarantined row.
-- A match is 'updated' when the merge logged a change of that patient for this delivery (merge_update.sql
-- logs exactly the matched patients it changed), else 'unchanged'.
-- Reads: import_decision, import_change_log. Writes: nothing. Run before the delivery's decisions are discarded.
SELECT d.record_no,
       CASE d.disposition
           WHEN 'insert' THEN 'inserted'
           WHEN 'quarantine' THEN 'quarantined'
           WHEN 'duplicate' THEN 'duplicate'
           WHEN 'match' THEN CASE WHEN EXISTS (
               SELECT 1 FROM patient_pipeline.import_change_log c
               WHERE c.file_id = d.file_id AND c.patient_id = d.patient_id) THEN 'updated' ELSE 'unchanged' END
       END AS outcome,
       d.patient_id, d.reason, d.reason_field
FROM patient_pipeline.import_decision d
WHERE d.file_id = :file_id
ORDER BY d.record_no
