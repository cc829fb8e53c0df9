-- Review queue, not a merge: a row about to become a new patient whose first name + last name + date of
-- birth equal an existing patient of the account, or an earlier new row of the same file.
-- Runs once before the merge's chunks (and again from :from_record on after a re-decision). Reads: import_decision, patients.
-- Writes: import_review. Safe to re-run: ON CONFLICT DO NOTHING on (file, record, kind, candidate).
-- A pair a steward kept separate (patient_pipeline.steward_kept_apart) is not queued again.
-- Names are compared in the key form (docs/contracts/data-model.md §4 rule 3, patient_pipeline.key_form) and in the "C" collation (equality only; the in-file window then sorts with byte
-- comparisons instead of the database's linguistic collation).
INSERT INTO patient_pipeline.import_review (file_id, record_no, kind, patient_id, candidate_patient_id)
SELECT d.file_id, d.record_no, 'name_dob_match', d.patient_id, p.id
FROM patient_pipeline.import_decision d
JOIN patients p
  ON p.account_id = :account_id AND p.date_of_birth = d.date_of_birth
 -- IS TRUE: the join hashes on the date of birth only, so the keys are computed for the pairs that share one
 AND (patient_pipeline.key_form(p.first_name) COLLATE "C" = patient_pipeline.key_form(d.first_name) COLLATE "C"
      AND patient_pipeline.key_form(p.last_name) COLLATE "C" = patient_pipeline.key_form(d.last_name) COLLATE "C") IS TRUE
WHERE d.file_id = :file_id AND d.disposition = 'insert' AND d.date_of_birth IS NOT NULL
  AND d.record_no >= :from_record
  AND NOT patient_pipeline.steward_kept_apart(
      patient_pipeline.steward_patient_keys(:account_id, p.id, p.external_id, p.email, p.first_name),
      patient_pipeline.steward_patient_keys(:account_id, d.patient_id, d.external_id, d.email, d.first_name))
UNION ALL
SELECT x.file_id, x.record_no, 'name_dob_match', x.patient_id, x.first_pid
FROM (
    SELECT d.file_id, d.record_no, d.patient_id, d.external_id, d.email, d.first_name,
           first_value(d.patient_id) OVER w AS first_pid, first_value(d.external_id) OVER w AS first_ext,
           first_value(d.email) OVER w AS first_email, first_value(d.first_name) OVER w AS first_first
    FROM patient_pipeline.import_decision d
    WHERE d.file_id = :file_id AND d.disposition = 'insert' AND d.date_of_birth IS NOT NULL
    WINDOW w AS (PARTITION BY patient_pipeline.key_form(d.first_name) COLLATE "C",
                              patient_pipeline.key_form(d.last_name) COLLATE "C", d.date_of_birth
                 ORDER BY d.record_no)
) x
WHERE x.first_pid <> x.patient_id AND x.record_no >= :from_record
  AND NOT patient_pipeline.steward_kept_apart(
      patient_pipeline.steward_patient_keys(:account_id, x.first_pid, x.first_ext, x.first_email, x.first_first),
      patient_pipeline.steward_patient_keys(:account_id, x.patient_id, x.external_id, x.email, x.first_name))
ON CONFLICT DO NOTHING
