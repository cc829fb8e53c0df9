-- Insert the new patients of one file (ids generated in decide.sql), set-based, and record them in the
-- compact insert log: one row per set of fields it set (names, no values), reason and block of up to
-- 10,000 patients, holding their ids (the view import_changes unnests them per patient).
-- Status: 'pending' (invitable), except 'inactive' when the source reports the person deceased (reason
-- 'deceased'; also when an earlier, superseded message of the same file did: a later message that
-- omits the death never makes the person invitable) or marks the record inactive (FHIR active: false;
-- reason 'inactive_at_source').
-- Reads: import_decision. Writes: patients, import_insert_log.
-- Runs per chunk of record numbers (:lo..:hi), one transaction per chunk (include/imports/merge.py).
-- Safe to re-run: the chunk's transaction also advances the ledger's merged_through (a merged chunk is not
-- merged again); an identity-key collision (23505) rolls the chunk back to its savepoint and the caller
-- re-decides, then narrows it down to the row (identity_conflict for that row, never the whole file).
WITH dead_ext AS (
    -- external ids of the file's superseded messages that reported a death (dead_external_ids.sql, read once
    -- per merge and passed in: a chunk does not scan the whole file's decisions again)
    SELECT DISTINCT x AS external_id FROM unnest(CAST(:dead_ext AS text[])) AS x
), ins AS (
    INSERT INTO patients (id, account_id, clinician_id, external_id, email, first_name, last_name, phone,
                          date_of_birth, status, created_at, updated_at)
    SELECT d.patient_id, CAST(:account_id AS varchar), :clinician_id,
           -- patients.external_id: the record's identifier unless another patient of the account holds that
           -- value already (another namespace's identifier; the cross-reference keeps both)
           CASE WHEN d.external_id IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM patients q WHERE q.account_id = CAST(:account_id AS varchar) AND q.external_id = d.external_id)
                THEN d.external_id END,
           d.email, d.first_name, d.last_name,
           d.phone, d.date_of_birth,
           CASE WHEN d.deceased OR x.external_id IS NOT NULL OR d.active IS FALSE THEN 'inactive' ELSE 'pending' END,
           now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc'
    FROM patient_pipeline.import_decision d
    LEFT JOIN dead_ext x ON x.external_id = d.external_id
    WHERE d.file_id = :file_id AND d.disposition = 'insert' AND d.record_no BETWEEN :lo AND :hi
    RETURNING id, external_id, email, phone, date_of_birth, clinician_id, status
), dead AS (
    SELECT d.patient_id
    FROM patient_pipeline.import_decision d
    LEFT JOIN dead_ext x ON x.external_id = d.external_id
    WHERE d.file_id = :file_id AND d.disposition = 'insert' AND d.record_no BETWEEN :lo AND :hi
      AND (d.deceased OR x.external_id IS NOT NULL)
), fields AS (
    SELECT ins.id, (row_number() OVER () - 1) / 10000 AS block,
           array_remove(ARRAY[
               'first_name', 'last_name',
               CASE WHEN ins.external_id IS NOT NULL THEN 'external_id' END,
               CASE WHEN ins.email IS NOT NULL THEN 'email' END,
               CASE WHEN ins.phone IS NOT NULL THEN 'phone' END,
               CASE WHEN ins.date_of_birth IS NOT NULL THEN 'date_of_birth' END,
               CASE WHEN ins.clinician_id IS NOT NULL THEN 'clinician_id' END,
               CASE WHEN ins.status <> 'pending' THEN 'status' END], NULL) AS changed_fields,
           CASE WHEN ins.status = 'pending' THEN NULL
                WHEN dd.patient_id IS NOT NULL THEN 'deceased'
                ELSE 'inactive_at_source' END AS reason
    FROM ins
    LEFT JOIN dead dd ON dd.patient_id = ins.id
), logged AS (
    INSERT INTO patient_pipeline.import_insert_log (file_id, changed_fields, patient_ids, reason)
    SELECT :file_id, f.changed_fields, array_agg(f.id), f.reason
    FROM fields f
    GROUP BY f.block, f.changed_fields, f.reason
    RETURNING cardinality(patient_ids) AS n
)
SELECT (SELECT count(*) FROM ins) AS inserted, (SELECT coalesce(sum(n), 0) FROM logged) AS logged
