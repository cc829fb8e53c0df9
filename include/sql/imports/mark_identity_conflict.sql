-- One row whose merge raised 23505 even after a re-decision (e.g. an update by identifier that would give
-- the matched patient the e-mail + first-name key another patient holds, or an identifier another patient
-- claimed meanwhile): the row becomes 'quarantine' / 'identity_conflict' (kept in the quarantine with its
-- values, as decide.sql's conflicts are) and a review item names both patients: the matched one (or, for a
-- new patient, the holder alone) and the patient that holds the identity.
-- Reads: import_decision, patients, patient_identifier. Writes: import_decision, import_quarantine,
-- import_review. Safe to re-run: the quarantine row is upserted, the review item ON CONFLICT DO NOTHING.
WITH t AS (
    SELECT d.file_id, d.record_no, d.external_id, d.first_name, d.last_name, d.email, d.phone, d.date_of_birth,
           CASE WHEN d.disposition = 'match' THEN d.patient_id END AS match_pid,
           patient_pipeline.email_key(coalesce(d.email, p.email)) AS ek,
           patient_pipeline.key_form(coalesce(d.first_name, p.first_name)) AS fk
    FROM patient_pipeline.import_decision d
    LEFT JOIN patients p ON d.disposition = 'match' AND p.id = d.patient_id
    WHERE d.file_id = :file_id AND d.record_no = :record_no
), h AS (
    SELECT t.*,
           coalesce(
               (SELECT x.patient_id FROM patient_pipeline.patient_identifier x
                WHERE x.account_id = CAST(:account_id AS text) AND x.namespace = CAST(:namespace AS text) AND x.value = t.external_id
                  AND x.patient_id IS DISTINCT FROM t.match_pid),
               (SELECT q.id FROM patients q
                WHERE q.account_id = CAST(:account_id AS text) AND q.external_id = t.external_id
                  AND q.id IS DISTINCT FROM t.match_pid ORDER BY q.id LIMIT 1)) AS ext_holder,
           (SELECT q.id FROM patients q
            WHERE t.ek IS NOT NULL AND q.account_id = CAST(:account_id AS text) AND q.email IS NOT NULL
              AND lower(btrim(q.email)) = t.ek AND patient_pipeline.email_key(q.email) = t.ek
              AND patient_pipeline.key_form(q.first_name) = t.fk AND q.id IS DISTINCT FROM t.match_pid
            ORDER BY q.id LIMIT 1) AS key_holder
    FROM t
), u AS (
    UPDATE patient_pipeline.import_decision d
       SET disposition = 'quarantine', reason = 'identity_conflict',
           reason_field = CASE WHEN h.key_holder IS NOT NULL THEN 'email' ELSE 'external_id' END, patient_id = NULL
      FROM h
     WHERE d.file_id = h.file_id AND d.record_no = h.record_no
    RETURNING d.record_no
), q AS (
    INSERT INTO patient_pipeline.import_quarantine (file_id, record_no, reason_code, field, raw_values, decided_by)
    SELECT h.file_id, h.record_no, 'identity_conflict',
           CASE WHEN h.key_holder IS NOT NULL THEN 'email' ELSE 'external_id' END,
           jsonb_strip_nulls(jsonb_build_object(
               'external_id', h.external_id, 'first_name', h.first_name, 'last_name', h.last_name,
               'email', h.email, 'phone', h.phone, 'date_of_birth', h.date_of_birth)),
           'validation'
    FROM h
    ON CONFLICT (file_id, record_no) DO UPDATE SET reason_code = EXCLUDED.reason_code, field = EXCLUDED.field
    RETURNING record_no
)
INSERT INTO patient_pipeline.import_review (file_id, record_no, kind, patient_id, candidate_patient_id)
SELECT h.file_id, h.record_no, 'identity_conflict', coalesce(h.match_pid, h.key_holder, h.ext_holder),
       CASE WHEN h.match_pid IS NOT NULL THEN coalesce(h.key_holder, h.ext_holder)
            WHEN h.key_holder IS NOT NULL AND h.ext_holder IS NOT NULL AND h.key_holder <> h.ext_holder
                THEN h.ext_holder END
FROM h
WHERE coalesce(h.match_pid, h.key_holder, h.ext_holder) IS NOT NULL
  AND (SELECT count(*) FROM u) >= 0 AND (SELECT count(*) FROM q) >= 0
ON CONFLICT DO NOTHING
