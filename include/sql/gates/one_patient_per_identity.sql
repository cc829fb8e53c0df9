-- Gate: one patient per identity key (account, e-mail key, first-name key) in the key form (rule 3:
-- patient_pipeline.email_key / key_form, so patients that differ only in case, spaces, NBSP, zero-width
-- or other invisible characters, compatibility forms or hyphen spacing count as one identity).
-- Reads: patients. Writes: nothing. Returns patient ids of duplicated keys.
SELECT count(*) AS violations, (array_agg(id ORDER BY id))[1:50] AS sample_ids
FROM (
    SELECT id, count(*) OVER (PARTITION BY account_id, patient_pipeline.email_key(email),
                                     patient_pipeline.key_form(first_name)) AS n
    FROM patients
    WHERE email IS NOT NULL
) d
WHERE n > 1
