-- Gate: no patient without a real first and last name (rule 7: no placeholders; names of white space
-- or invisible characters only count as blank, placeholders are compared in the key form).
-- Reads: patients. Writes: nothing.
SELECT count(*) AS violations, (array_agg(id ORDER BY id))[1:50] AS sample_ids
FROM patients
WHERE coalesce(patient_pipeline.key_form(first_name), '') = '' OR coalesce(patient_pipeline.key_form(last_name), '') = ''
   OR patient_pipeline.key_form(first_name) IN ('unknown', 'n/a', 'na', 'none', 'patient', 'test', '-', '?')
   OR patient_pipeline.key_form(last_name) IN ('unknown', 'n/a', 'na', 'none', 'patient', 'test', '-', '?')
