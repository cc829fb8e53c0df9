-- Gate: every role-patient user (role in the key form: any case, any noise) is the user of exactly one patient (rule 1, rule 5).
-- Reads: users, patients. Writes: nothing.
SELECT count(*) AS violations, (array_agg(u.id ORDER BY u.id))[1:50] AS sample_ids
FROM users u
WHERE patient_pipeline.key_form(u.role) = 'patient'
  AND NOT EXISTS (SELECT 1 FROM patients p WHERE p.user_id = u.id)
