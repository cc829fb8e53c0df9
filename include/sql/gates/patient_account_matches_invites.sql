-- Gate: a patient's account is the account of its invites' clinicians (rule 2: never across accounts).
-- Reads: invites, users, patients. Writes: nothing. Returns invite ids.
SELECT count(*) AS violations, (array_agg(i.id ORDER BY i.id))[1:50] AS sample_ids
FROM invites i
JOIN patients p ON p.id = i.patient_id
LEFT JOIN users c ON c.id = i.clinician_id
WHERE p.account_id IS DISTINCT FROM c.account_id
