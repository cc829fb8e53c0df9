-- One page of GET /api/patients: the caller's account only (an admin key without an account filter sees
-- all), the optional filters, in the stable order (created_at, id) after the cursor's (created_at, id).
-- Keyset pagination: a row inserted while a client pages gets a later created_at than the rows already
-- read, so pages neither repeat nor skip rows that existed when paging began.
-- The e-mail filter compares the key form (patient_pipeline.email_key, docs/contracts/data-model.md §4 rule 3, the key of the
-- import's matching and of the backfill); the last-name filter is a case-insensitive prefix (LIKE with escaped wildcards).
-- Reads: patients. Writes: nothing.
SELECT id, account_id, clinician_id, external_id, email, first_name, last_name, phone, date_of_birth, status,
       created_at, updated_at
FROM patients p
WHERE (CAST(:all_accounts AS boolean) OR p.account_id = :account_id)
  AND (CAST(:status AS text) IS NULL OR p.status = CAST(:status AS text))
  AND (CAST(:external_id AS text) IS NULL OR p.external_id = CAST(:external_id AS text))
  AND (CAST(:email_key AS text) IS NULL OR (p.email IS NOT NULL AND patient_pipeline.email_key(p.email) = CAST(:email_key AS text)))
  AND (CAST(:last_name_like AS text) IS NULL OR lower(p.last_name) LIKE CAST(:last_name_like AS text) ESCAPE '\')
  AND (CAST(:clinician_id AS text) IS NULL OR p.clinician_id = CAST(:clinician_id AS text))
  AND (CAST(:created_since AS timestamp) IS NULL OR p.created_at >= CAST(:created_since AS timestamp))
  AND (CAST(:updated_since AS timestamp) IS NULL OR p.updated_at >= CAST(:updated_since AS timestamp))
  AND (CAST(:after_created AS timestamp) IS NULL
       OR (p.created_at, p.id) > (CAST(:after_created AS timestamp), CAST(:after_id AS text)))
ORDER BY p.created_at, p.id
LIMIT :page_limit
