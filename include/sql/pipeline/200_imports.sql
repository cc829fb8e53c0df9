-- Clinic imports: ledger, quarantine, review queue, change log and the staging/decision work tables.
-- Reads: nothing. Writes: tables in patient_pipeline only (never an application table).
-- Safe to re-run: every statement is CREATE ... IF NOT EXISTS, an ALTER TABLE ... ADD COLUMN run only when
-- the catalog says the column is missing (nullable, no default: catalog-only; for databases created by an
-- earlier version), or CREATE OR REPLACE VIEW that only appends columns; nothing is dropped.

-- The import ledger: one row per delivered file (and per attempt kind: a held or rejected file that is
-- delivered again gets a new row). Status machine (each step re-entrant):
--   registered -> staged -> merged -> done          (normal path)
--   registered|staged -> rejected | held            (file-level problem / reject ratio above threshold)
--   duplicate                                       (same SHA-256 already done for this source)
--   dry_run                                         (counted, nothing merged, file left in place)
CREATE TABLE IF NOT EXISTS patient_pipeline.import_file (
    file_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id text NOT NULL,
    account_id text NOT NULL,
    file_name text NOT NULL,
    location text NOT NULL,
    sha256 char(64) NOT NULL,
    size_bytes bigint NOT NULL,
    status text NOT NULL DEFAULT 'registered',
    reason_code text,
    duplicate_of bigint REFERENCES patient_pipeline.import_file (file_id),
    dag_run_id text,
    attempts integer NOT NULL DEFAULT 1,
    rows_read bigint,
    rows_staged bigint,
    inserted bigint,
    updated bigint,
    unchanged bigint,
    duplicates bigint,
    quarantined bigint,
    review_items bigint,
    reconciled boolean,
    gx_success boolean,
    report_path text,
    registered_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    finished_at timestamp without time zone,
    CONSTRAINT ck_import_file_status CHECK (
        status IN ('registered', 'staged', 'merged', 'done', 'rejected', 'held', 'duplicate', 'dry_run'))
);
-- At most one live or done ledger row per (source, content): the "same bytes twice" rule.
CREATE UNIQUE INDEX IF NOT EXISTS ux_import_file_source_sha
    ON patient_pipeline.import_file (source_id, sha256)
    WHERE status IN ('registered', 'staged', 'merged', 'done');
CREATE INDEX IF NOT EXISTS ix_import_file_run ON patient_pipeline.import_file (dag_run_id);

-- Quarantined rows: enough to fix and re-import (file, record number, reason, field, values).
-- raw_values holds the record exactly as read for normalizer/reader reasons, and the normalized values
-- for reasons decided in SQL (identity_conflict, conflicting_duplicate). PHI: never exported to logs.
CREATE TABLE IF NOT EXISTS patient_pipeline.import_quarantine (
    file_id bigint NOT NULL REFERENCES patient_pipeline.import_file (file_id),
    record_no integer NOT NULL,
    reason_code text NOT NULL,
    field text,
    raw_values jsonb,
    decided_by text NOT NULL,
    quarantined_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    resolved_at timestamp without time zone,
    PRIMARY KEY (file_id, record_no)
);

-- Field issues: an optional value that failed validation (phone, date of birth, e-mail next to an
-- external id, ...). The row was imported WITHOUT that value; this says which file, record and field,
-- and why (reason code), so the clinic can fix the source. Never the value itself.
CREATE TABLE IF NOT EXISTS patient_pipeline.import_field_issue (
    file_id bigint NOT NULL REFERENCES patient_pipeline.import_file (file_id),
    record_no integer NOT NULL,
    field text NOT NULL,
    reason_code text NOT NULL,
    recorded_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    PRIMARY KEY (file_id, record_no, field)
);

-- Review queue: never merged automatically (name + DOB look-alikes, HL7 A40 merges, FHIR replaced-by).
CREATE TABLE IF NOT EXISTS patient_pipeline.import_review (
    review_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_id bigint NOT NULL REFERENCES patient_pipeline.import_file (file_id),
    record_no integer NOT NULL,
    kind text NOT NULL,
    patient_id text,
    candidate_patient_id text,
    detail text,
    created_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    resolved_at timestamp without time zone
);
CREATE UNIQUE INDEX IF NOT EXISTS ux_import_review_item
    ON patient_pipeline.import_review (file_id, record_no, kind, coalesce(candidate_patient_id, ''));

-- Change log: which patient, which fields, which file. Never the values. Since the compact insert log
-- below, new rows here are updates; 'insert' rows of earlier imports stay valid (see import_changes).
CREATE TABLE IF NOT EXISTS patient_pipeline.import_change_log (
    change_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_id bigint NOT NULL REFERENCES patient_pipeline.import_file (file_id),
    patient_id text NOT NULL,
    change_kind text NOT NULL CHECK (change_kind IN ('insert', 'update')),
    changed_fields text[] NOT NULL,
    changed_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX IF NOT EXISTS ix_import_change_log_patient ON patient_pipeline.import_change_log (patient_id);
-- BRIN: file ids only grow, so a tiny block-range index serves "changes of file N" without a btree per row.
CREATE INDEX IF NOT EXISTS ix_import_change_log_file ON patient_pipeline.import_change_log USING brin (file_id);

-- Patients created by an import, in compact form: one row per file, set of fields and block of up to
-- 10,000 new patients (their ids in patient_ids). A 1,000,000-row file creates ~100 rows here instead
-- of a million change-log rows (each with an FK check and two index entries: a third of the merge).
-- import_change_log keeps one row per updated patient. Never the values.
CREATE TABLE IF NOT EXISTS patient_pipeline.import_insert_log (
    batch_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_id bigint NOT NULL REFERENCES patient_pipeline.import_file (file_id),
    changed_fields text[] NOT NULL,
    patient_ids text[] NOT NULL,
    changed_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX IF NOT EXISTS ix_import_insert_log_file ON patient_pipeline.import_insert_log (file_id);

-- Staging: what the reader + normalizer produced, loaded with COPY. UNLOGGED and index-free on purpose
-- (fast bulk load); logically keyed by (file_id, record_no). Rows of an unfinished attempt are deleted
-- by file_id before the next attempt; rows of a finished file are deleted when it is done.
-- After a server crash PostgreSQL empties UNLOGGED tables: the pipeline then re-stages (row count check).
CREATE UNLOGGED TABLE IF NOT EXISTS patient_pipeline.import_staging (
    file_id bigint NOT NULL,
    record_no integer NOT NULL,
    external_id text,
    first_name text,
    last_name text,
    email text,
    phone text,
    date_of_birth date,
    dob_partial text,
    active boolean,
    reason text,
    reason_field text,
    notes text,
    event text,
    event_detail text,
    raw jsonb
);

-- Decisions: one row per staged row with its disposition (quarantine, duplicate, insert, match) and
-- target patient id; what the quarantine, the gate and the merge read. UNLOGGED, index-free, per file_id.
CREATE UNLOGGED TABLE IF NOT EXISTS patient_pipeline.import_decision (
    file_id bigint NOT NULL,
    record_no integer NOT NULL,
    disposition text NOT NULL,
    reason text,
    reason_field text,
    patient_id text,
    external_id text,
    first_name text,
    last_name text,
    email text,
    phone text,
    date_of_birth date,
    event text,
    event_detail text,
    raw jsonb
);

-- Columns added with "Real-world feeds" (docs/contracts/imports.md), for databases created by an earlier version. Each is
-- added only when missing (checked in the catalog first, so a routine ensure() never queues an ACCESS
-- EXCLUSIVE lock behind a running import); nullable without default: a catalog-only change.
--   import_file.field_issue_rows      rows imported with at least one field issue
--   import_file.unsupported_messages  HL7 messages of types the import does not read (counted, not records)
--   import_file.reason_message        the operator's PHI-free text for reason_code (column, segment or
--                                     element path; never a value)
--   import_change_log.reason / import_insert_log.reason
--                                     why a change was made beyond "the clinic sent new values":
--                                     'deceased' (status set to inactive: the source reports the person
--                                     deceased), 'inactive_at_source' (a new patient the source marks
--                                     inactive, e.g. FHIR active: false); NULL otherwise
--   import_staging.field_issues       "field:reason" pairs joined by ','
--   import_staging.deceased, import_decision.active, import_decision.deceased
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT * FROM (VALUES
        ('import_file', 'field_issue_rows', 'bigint'),
        ('import_file', 'unsupported_messages', 'bigint'),
        ('import_file', 'reason_message', 'text'),
        ('import_change_log', 'reason', 'text'),
        ('import_insert_log', 'reason', 'text'),
        ('import_staging', 'field_issues', 'text'),
        ('import_staging', 'deceased', 'boolean'),
        ('import_decision', 'active', 'boolean'),
        ('import_decision', 'deceased', 'boolean')) AS v (tbl, col, typ)
    LOOP
        IF NOT EXISTS (
            SELECT 1 FROM pg_attribute
            WHERE attrelid = ('patient_pipeline.' || quote_ident(c.tbl))::regclass
              AND attname = c.col AND NOT attisdropped) THEN
            EXECUTE 'ALTER TABLE patient_pipeline.' || quote_ident(c.tbl) || ' ADD COLUMN ' || quote_ident(c.col)
                || ' ' || c.typ;
        END IF;
    END LOOP;
END
$$;

-- Every change of every import, one row per patient and change: the updates as logged, the inserts
-- unnested from their blocks. What to query for "which patient, which fields, which file" (a lookup by
-- patient_id reads the blocks of every file: fine for an audit question, not for a hot path).
CREATE OR REPLACE VIEW patient_pipeline.import_changes AS
SELECT c.file_id, c.patient_id, c.change_kind, c.changed_fields, c.changed_at, c.reason
FROM patient_pipeline.import_change_log c
UNION ALL
SELECT b.file_id, u.patient_id, 'insert' AS change_kind, b.changed_fields, b.changed_at, b.reason
FROM patient_pipeline.import_insert_log b
CROSS JOIN LATERAL unnest(b.patient_ids) AS u (patient_id);
