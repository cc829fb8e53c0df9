-- Review items for identity conflicts decided in SQL (decide.sql): one 'identity_conflict' item per
-- quarantined row, naming both patients: the one its identifier points to (the cross-reference in the
-- source's :namespace, or an unattributed patients.external_id) and the one its e-mail key + first-name key
-- point to (the key form, DATA-MODEL 4 rule 3). The row itself stays in the quarantine (fix and re-send);
-- the item lets a steward decide whether the two are one person (merge) or not. Rows from :from_record on.
-- Reads: import_decision, patient_identifier, patients. Writes: import_review.
-- Safe to re-run: ON CONFLICT DO NOTHING on (file, record, kind, candidate).
WITH c AS (
    SELECT d.file_id, d.record_no, d.external_id, patient_pipeline.email_key(d.email) AS ek,
           patient_pipeline.key_form(d.first_name) AS fk
    FROM patient_pipeline.import_decision d
    WHERE d.file_id = :file_id AND d.reason = 'identity_conflict' AND d.record_no >= :from_record
), e AS (
    SELECT c.*, coalesce(
        (SELECT x.patient_id FROM patient_pipeline.patient_identifier x
         WHERE x.account_id = CAST(:account_id AS text) AND x.namespace = CAST(:namespace AS text) AND x.value = c.external_id),
        (SELECT p.id FROM patients p WHERE p.account_id = CAST(:account_id AS text) AND p.external_id = c.external_id
         ORDER BY p.id LIMIT 1)) AS ext_pid
    FROM c
), k AS (
    SELECT e.*, (
        SELECT p.id FROM patients p
        WHERE e.ek IS NOT NULL AND p.account_id = CAST(:account_id AS text) AND p.email IS NOT NULL
          AND lower(btrim(p.email)) = e.ek AND patient_pipeline.email_key(p.email) = e.ek
          AND patient_pipeline.key_form(p.first_name) = e.fk
        ORDER BY p.id LIMIT 1) AS ident_pid
    FROM e
)
INSERT INTO patient_pipeline.import_review (file_id, record_no, kind, patient_id, candidate_patient_id)
SELECT k.file_id, k.record_no, 'identity_conflict', coalesce(k.ext_pid, k.ident_pid),
       CASE WHEN k.ext_pid IS NOT NULL AND k.ident_pid IS NOT NULL AND k.ext_pid <> k.ident_pid THEN k.ident_pid END
FROM k
WHERE coalesce(k.ext_pid, k.ident_pid) IS NOT NULL
ON CONFLICT DO NOTHING
