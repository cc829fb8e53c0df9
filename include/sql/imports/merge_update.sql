-- Update the matched patients of one file, set-based, and log which fields changed (names, no values).
-- A value replaces the stored one only when it is non-empty and different (COALESCE new over old):
-- an import never blanks a stored value. Matched rows with no change are counted as unchanged.
-- Status: an import never makes anyone invitable. The only status change it makes: a person the source
-- reports deceased (this row, or an earlier superseded message of the same file) whose patient is
-- 'pending' or 'active' becomes 'inactive', logged with reason 'deceased'. A later record without the
-- death (or with FHIR active: true) leaves an inactive patient inactive.
-- The log row keeps the patient's previous values (the fields this statement may change, and updated_at)
-- in the pipeline schema, so the file can be undone (include/stewardship/undo_import.py).
-- Reads: import_decision, patients. Writes: patients, import_change_log.
-- Runs per chunk of record numbers (:lo..:hi), one transaction per chunk (include/imports/merge.py).
-- patients.external_id keeps the first identifier a patient got (docs/contracts/identity.md 1b): it is set only while it is
-- empty and no other patient of the account holds the value; every identifier goes to the cross-reference
-- (merge_identifiers.sql).
-- Safe to re-run: the chunk's transaction also advances the ledger's merged_through; a rerun of a merged
-- chunk skips it. Re-applying the same values changes nothing (all rows unchanged).
WITH dead_ext AS (
    -- external ids of the file's superseded messages that reported a death (dead_external_ids.sql, read once
    -- per merge and passed in: a chunk does not scan the whole file's decisions again)
    SELECT DISTINCT x AS external_id FROM unnest(CAST(:dead_ext AS text[])) AS x
), ch0 AS (
    SELECT p.id, p.status,
           CASE WHEN p.external_id IS NULL AND d.external_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM patients q
                    WHERE q.account_id = p.account_id AND q.external_id = d.external_id AND q.id <> p.id)
                THEN d.external_id END AS external_id,
           d.email, d.first_name, d.last_name, d.phone, d.date_of_birth,
           (d.deceased OR x.external_id IS NOT NULL) AND coalesce(p.status, 'pending') IN ('pending', 'active')
               AS dies,
           p.external_id AS p_external_id, p.email AS p_email, p.first_name AS p_first_name,
           p.last_name AS p_last_name, p.phone AS p_phone, p.date_of_birth AS p_date_of_birth,
           p.clinician_id AS p_clinician_id,
           jsonb_build_object('external_id', p.external_id, 'email', p.email, 'first_name', p.first_name,
                              'last_name', p.last_name, 'phone', p.phone, 'date_of_birth', p.date_of_birth,
                              'clinician_id', p.clinician_id, 'status', p.status,
                              'updated_at', p.updated_at) AS previous
    FROM patient_pipeline.import_decision d
    JOIN patients p ON p.id = d.patient_id
    LEFT JOIN dead_ext x ON x.external_id = d.external_id
    WHERE d.file_id = :file_id AND d.disposition = 'match' AND d.record_no BETWEEN :lo AND :hi
), ch AS (
    SELECT ch0.*,
           array_remove(ARRAY[
               CASE WHEN external_id IS NOT NULL AND external_id IS DISTINCT FROM p_external_id THEN 'external_id' END,
               CASE WHEN email IS NOT NULL AND email IS DISTINCT FROM p_email THEN 'email' END,
               CASE WHEN first_name IS NOT NULL AND first_name IS DISTINCT FROM p_first_name THEN 'first_name' END,
               CASE WHEN last_name IS NOT NULL AND last_name IS DISTINCT FROM p_last_name THEN 'last_name' END,
               CASE WHEN phone IS NOT NULL AND phone IS DISTINCT FROM p_phone THEN 'phone' END,
               CASE WHEN date_of_birth IS NOT NULL AND date_of_birth IS DISTINCT FROM p_date_of_birth
                    THEN 'date_of_birth' END,
               CASE WHEN p_clinician_id IS NULL AND CAST(:clinician_id AS text) IS NOT NULL THEN 'clinician_id' END,
               CASE WHEN dies THEN 'status' END
           ], NULL) AS fields
    FROM ch0
), upd AS (
    UPDATE patients p
       SET external_id = coalesce(p.external_id, ch.external_id),
           email = coalesce(ch.email, p.email),
           first_name = coalesce(ch.first_name, p.first_name),
           last_name = coalesce(ch.last_name, p.last_name),
           phone = coalesce(ch.phone, p.phone),
           date_of_birth = coalesce(ch.date_of_birth, p.date_of_birth),
           clinician_id = coalesce(p.clinician_id, CAST(:clinician_id AS varchar)),
           status = CASE WHEN ch.dies THEN 'inactive' ELSE p.status END,
           updated_at = now() AT TIME ZONE 'utc'
      FROM ch
     WHERE p.id = ch.id AND cardinality(ch.fields) > 0
    RETURNING p.id
), logged AS (
    INSERT INTO patient_pipeline.import_change_log (file_id, patient_id, change_kind, changed_fields, reason,
                                                   previous_values)
    SELECT :file_id, ch.id, 'update', ch.fields, CASE WHEN ch.dies THEN 'deceased' END, ch.previous
    FROM ch WHERE cardinality(ch.fields) > 0
    RETURNING 1
)
SELECT (SELECT count(*) FROM upd) AS updated,
       (SELECT count(*) FROM ch WHERE cardinality(ch.fields) = 0) AS unchanged,
       (SELECT count(*) FROM ch) AS matched,
       (SELECT count(*) FROM logged) AS logged
