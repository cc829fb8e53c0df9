-- Insert the new patients of one file (status 'pending', ids generated in decide.sql), set-based, and
-- log each insert with the names of the fields it set (no values).
-- Reads: import_decision. Writes: patients, import_change_log.
-- Safe to re-run: runs in the merge transaction that moves the ledger to 'merged' (a merged file is not
-- merged again); an id collision or identity-key collision aborts the whole transaction.
WITH ins AS (
    INSERT INTO patients (id, account_id, clinician_id, external_id, email, first_name, last_name, phone,
                          date_of_birth, status, created_at, updated_at)
    SELECT d.patient_id, :account_id, :clinician_id, d.external_id, d.email, d.first_name, d.last_name,
           d.phone, d.date_of_birth, 'pending', now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc'
    FROM patient_pipeline.import_decision d
    WHERE d.file_id = :file_id AND d.disposition = 'insert'
    RETURNING id, external_id, email, phone, date_of_birth, clinician_id
), logged AS (
    INSERT INTO patient_pipeline.import_change_log (file_id, patient_id, change_kind, changed_fields)
    SELECT :file_id, ins.id, 'insert', array_remove(ARRAY[
               'first_name', 'last_name',
               CASE WHEN ins.external_id IS NOT NULL THEN 'external_id' END,
               CASE WHEN ins.email IS NOT NULL THEN 'email' END,
               CASE WHEN ins.phone IS NOT NULL THEN 'phone' END,
               CASE WHEN ins.date_of_birth IS NOT NULL THEN 'date_of_birth' END,
               CASE WHEN ins.clinician_id IS NOT NULL THEN 'clinician_id' END], NULL)
    FROM ins
    RETURNING 1
)
SELECT (SELECT count(*) FROM ins) AS inserted, (SELECT count(*) FROM logged) AS logged
