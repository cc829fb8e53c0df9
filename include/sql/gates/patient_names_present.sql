-- Gate: no patient without a real first and last name (rule 7: no placeholders).
-- Reads: patients. Writes: nothing.
SELECT count(*) AS violations, (array_agg(id ORDER BY id))[1:50] AS sample_ids
FROM patients
WHERE coalesce(btrim(first_name), '') = '' OR coalesce(btrim(last_name), '') = ''
   OR lower(btrim(first_name)) IN ('unknown', 'n/a', 'na', 'none', 'patient', 'test', '-', '?')
   OR lower(btrim(last_name)) IN ('unknown', 'n/a', 'na', 'none', 'patient', 'test', '-', '?')
