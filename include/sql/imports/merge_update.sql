-- Update the matched patients of one file, set-based, and log which fields changed (names, no values).
-- A value replaces the stored one only when it is non-empty and different (COALESCE new over old):
-- an import never blanks a stored value. Matched rows with no change are counted as unchanged.
-- The log row keeps the patient's previous values (the fields this statement may change, and updated_at)
-- in the pipeline schema, so the file can be undone (include/stewardship/undo_import.py).
-- Reads: import_decision, patients. Writes: patients, import_change_log.
-- Safe to re-run: runs in the merge transaction, which also moves the ledger to 'merged'; a rerun of a
-- merged file skips the merge. Re-applying the same values changes nothing (all rows unchanged).
WITH ch AS (
    SELECT p.id, d.external_id, d.email, d.first_name, d.last_name, d.phone, d.date_of_birth,
           array_remove(ARRAY[
               CASE WHEN d.external_id IS NOT NULL AND d.external_id IS DISTINCT FROM p.external_id THEN 'external_id' END,
               CASE WHEN d.email IS NOT NULL AND d.email IS DISTINCT FROM p.email THEN 'email' END,
               CASE WHEN d.first_name IS NOT NULL AND d.first_name IS DISTINCT FROM p.first_name THEN 'first_name' END,
               CASE WHEN d.last_name IS NOT NULL AND d.last_name IS DISTINCT FROM p.last_name THEN 'last_name' END,
               CASE WHEN d.phone IS NOT NULL AND d.phone IS DISTINCT FROM p.phone THEN 'phone' END,
               CASE WHEN d.date_of_birth IS NOT NULL AND d.date_of_birth IS DISTINCT FROM p.date_of_birth
                    THEN 'date_of_birth' END,
               CASE WHEN p.clinician_id IS NULL AND CAST(:clinician_id AS text) IS NOT NULL THEN 'clinician_id' END
           ], NULL) AS fields,
           jsonb_build_object('external_id', p.external_id, 'email', p.email, 'first_name', p.first_name,
                              'last_name', p.last_name, 'phone', p.phone, 'date_of_birth', p.date_of_birth,
                              'clinician_id', p.clinician_id, 'status', p.status,
                              'updated_at', p.updated_at) AS previous
    FROM patient_pipeline.import_decision d
    JOIN patients p ON p.id = d.patient_id
    WHERE d.file_id = :file_id AND d.disposition = 'match'
), upd AS (
    UPDATE patients p
       SET external_id = coalesce(ch.external_id, p.external_id),
           email = coalesce(ch.email, p.email),
           first_name = coalesce(ch.first_name, p.first_name),
           last_name = coalesce(ch.last_name, p.last_name),
           phone = coalesce(ch.phone, p.phone),
           date_of_birth = coalesce(ch.date_of_birth, p.date_of_birth),
           clinician_id = coalesce(p.clinician_id, CAST(:clinician_id AS varchar)),
           updated_at = now() AT TIME ZONE 'utc'
      FROM ch
     WHERE p.id = ch.id AND cardinality(ch.fields) > 0
    RETURNING p.id
), logged AS (
    INSERT INTO patient_pipeline.import_change_log (file_id, patient_id, change_kind, changed_fields, previous_values)
    SELECT :file_id, ch.id, 'update', ch.fields, ch.previous FROM ch WHERE cardinality(ch.fields) > 0
    RETURNING 1
)
SELECT (SELECT count(*) FROM upd) AS updated,
       (SELECT count(*) FROM ch WHERE cardinality(ch.fields) = 0) AS unchanged,
       (SELECT count(*) FROM ch) AS matched,
       (SELECT count(*) FROM logged) AS logged
