-- One patient, only when it belongs to the caller's account (or the caller's key is an admin key).
-- Reads: patients. Writes: nothing.
SELECT id, account_id, clinician_id, external_id, email, first_name, last_name, phone, date_of_birth, status,
       created_at, updated_at
FROM patients
WHERE id = :patient_id AND (CAST(:all_accounts AS boolean) OR account_id = :account_id)
