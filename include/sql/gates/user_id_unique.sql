-- Gate: one user, at most one patient (rule 5). The unique constraint enforces it; this proves it.
-- Reads: patients. Writes: nothing.
SELECT count(*) AS violations, (array_agg(user_id ORDER BY user_id))[1:50] AS sample_ids
FROM (SELECT user_id FROM patients WHERE user_id IS NOT NULL GROUP BY user_id HAVING count(*) > 1) d
