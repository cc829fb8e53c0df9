-- Retention: delete stored first responses of the intake API's Idempotency-Keys older than :cutoff (a
-- client retries within minutes; after the window a repeated key is a new call). The API audit stays.
-- Reads/writes: api_idempotency. Returns: deleted. Safe to re-run: deleted rows are gone.
WITH deleted AS (
    DELETE FROM patient_pipeline.api_idempotency i WHERE i.created_at < :cutoff RETURNING 1
)
SELECT count(*) AS deleted FROM deleted
