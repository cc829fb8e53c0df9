-- The stored first response of a bulk call with this Idempotency-Key in this account, if any.
-- Reads: api_idempotency. Writes: nothing.
SELECT body_sha256, status, response, file_id
FROM patient_pipeline.api_idempotency
WHERE account_id = :account_id AND idempotency_key = :idempotency_key
