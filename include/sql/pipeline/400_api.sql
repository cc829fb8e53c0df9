-- The patient intake API (include/api/): API keys, the audit of every call, idempotent bulk responses,
-- and the ledger's kind of delivery ('file' or 'api').
-- Reads: the catalog. Writes: tables in patient_pipeline only (never an application table).
-- Safe to re-run: CREATE ... IF NOT EXISTS; the one ALTER runs only when its column is missing.

-- The ledger's kind of delivery: 'file' (a clinic file, the default of every existing row) or 'api'
-- (a call of the intake API, include/imports/direct.py). Adding a nullable-free column with a constant
-- default is catalog-only (PostgreSQL 11+); it runs once, guarded by the catalog check, with a short
-- lock_timeout so it never queues behind a long transaction on the ledger.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = 'patient_pipeline.import_file'::regclass
                     AND attname = 'source_kind' AND NOT attisdropped) THEN
        PERFORM set_config('lock_timeout', '5000', true);
        ALTER TABLE patient_pipeline.import_file ADD COLUMN source_kind text NOT NULL DEFAULT 'file';
    END IF;
END
$$;

-- API keys: one account each (an admin key may span accounts, and says so). Only a salted SHA-256 of the
-- secret is stored; the key itself is printed once by `python -m include.cli api-key create`.
CREATE TABLE IF NOT EXISTS patient_pipeline.api_key (
    key_id text PRIMARY KEY,
    account_id text NOT NULL,
    name text NOT NULL,
    is_admin boolean NOT NULL DEFAULT false,
    salt bytea NOT NULL,
    secret_sha256 bytea NOT NULL,
    created_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    revoked_at timestamp without time zone,
    last_used_at timestamp without time zone
);

-- One row per API call: who (key), when, which route template, the status, which patients were read or
-- written and the counts. Never a value (no names, e-mails, phones, dates of birth, no query strings).
CREATE TABLE IF NOT EXISTS patient_pipeline.api_audit (
    audit_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    called_at timestamp without time zone NOT NULL DEFAULT (clock_timestamp() AT TIME ZONE 'utc'),
    key_id text,
    account_id text,
    method text NOT NULL,
    route text NOT NULL,
    status integer NOT NULL,
    duration_ms integer,
    patient_ids text[] NOT NULL DEFAULT '{}',
    counts jsonb NOT NULL DEFAULT '{}'::jsonb,
    file_id bigint
);
CREATE INDEX IF NOT EXISTS ix_api_audit_key_time ON patient_pipeline.api_audit (key_id, called_at);
-- "Who saw or changed this patient": the audit by patient id.
CREATE INDEX IF NOT EXISTS ix_api_audit_patient_ids ON patient_pipeline.api_audit USING gin (patient_ids);

-- Idempotency-Key of bulk calls: the first response (outcomes and counts: ids and reason codes only,
-- no values), per account and key, with the SHA-256 of the body it answered.
CREATE TABLE IF NOT EXISTS patient_pipeline.api_idempotency (
    account_id text NOT NULL,
    idempotency_key text NOT NULL,
    body_sha256 char(64) NOT NULL,
    status integer NOT NULL,
    response jsonb NOT NULL,
    file_id bigint,
    created_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    PRIMARY KEY (account_id, idempotency_key)
);
