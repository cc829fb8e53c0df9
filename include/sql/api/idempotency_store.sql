-- Keep the first response of a bulk call under its Idempotency-Key (ids, outcomes and counts; no values).
-- Reads: nothing. Writes: api_idempotency. Runs under the key's advisory lock, after the lookup found
-- nothing; ON CONFLICT DO NOTHING keeps the first response if two processes ever raced.
INSERT INTO patient_pipeline.api_idempotency (account_id, idempotency_key, body_sha256, status, response, file_id)
VALUES (:account_id, :idempotency_key, :body_sha256, :status, CAST(:response AS jsonb), :file_id)
ON CONFLICT (account_id, idempotency_key) DO NOTHING
