-- The matcher's extract of one account (docs/contracts/identity.md §2): one row per live patient with the key forms the
-- model compares (020_key_form.sql), its date of birth, phone, and identifiers per namespace
-- (namespace chr(30) value, joined by chr(31): a FHIR system URI may hold '='); is_new marks the
-- patients of an incremental pass (temp table identity_new). Run inside COPY (...) TO STDOUT (FORMAT csv)
-- by include/identity/extract.py: never row by row. {account_id} and {incremental} are literals bound
-- client-side (psycopg.sql).
-- Reads: patients, patient_pipeline.patient_identifier, patient_pipeline.patient_merged_into, identity_new.
-- Writes: nothing. Safe to re-run.
SELECT p.id,
       patient_pipeline.key_form(p.first_name),
       patient_pipeline.key_form(p.last_name),
       p.date_of_birth,
       patient_pipeline.email_key(p.email),
       p.phone,
       i.ids,
       CASE WHEN {incremental} THEN n.patient_id IS NOT NULL ELSE true END
FROM patients p
LEFT JOIN (
    SELECT patient_id, string_agg(namespace || chr(30) || value, chr(31) ORDER BY namespace, value) AS ids
    FROM patient_pipeline.patient_identifier
    WHERE account_id = {account_id}
    GROUP BY patient_id
) i ON i.patient_id = p.id
LEFT JOIN identity_new n ON n.patient_id = p.id
WHERE p.account_id = {account_id}
  AND p.status <> 'archived'
  AND NOT EXISTS (SELECT 1 FROM patient_pipeline.patient_merged_into mi WHERE mi.patient_id = p.id)
