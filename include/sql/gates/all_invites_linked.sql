-- Gate: every invite is linked to a patient (docs/contracts/data-model.md §4 rule 1).
-- Reads: invites. Writes: nothing. Returns the count and up to 50 invite ids.
SELECT count(*) AS violations, (array_agg(id ORDER BY id))[1:50] AS sample_ids
FROM invites
WHERE patient_id IS NULL
