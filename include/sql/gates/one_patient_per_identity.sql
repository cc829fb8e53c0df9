-- Gate: one patient per identity key (account, e-mail key, first-name key) (rule 3).
-- Reads: patients. Writes: nothing. Returns patient ids of duplicated keys.
SELECT count(*) AS violations, (array_agg(id ORDER BY id))[1:50] AS sample_ids
FROM (
    SELECT id, count(*) OVER (PARTITION BY account_id, lower(btrim(email)), lower(btrim(first_name))) AS n
    FROM patients
    WHERE email IS NOT NULL
) d
WHERE n > 1
