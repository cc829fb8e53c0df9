-- Stewardship: the action log, merges (what each changed, to unmerge exactly), pairs kept separate,
-- replayed quarantine rows, undone import files; and the columns the review queues, the quarantine, the
-- change log and the ledger need to record resolutions and previous values.
-- Reads: the catalog. Writes: tables in patient_pipeline only (never an application table).
-- Safe to re-run: CREATE ... IF NOT EXISTS, ADD COLUMN IF NOT EXISTS (nullable, no default: a catalog-only
-- change, no rewrite, no long lock), and one DO block that widens the ledger's status check only when it
-- does not allow 'undone' yet (NOT VALID, then VALIDATE: the check is scanned without blocking writers).
-- No percent sign in this file: it runs through the driver's placeholder parser.

-- Every stewardship action: who (the triggering Airflow user or the CLI's OS user), what, when, ids and
-- counts only (params/counts never hold a name, e-mail, phone or date of birth).
--   status: applied | refused | dry_run | undone (an applied action later undone by `undone_by`)
CREATE TABLE IF NOT EXISTS patient_pipeline.steward_action (
    action_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action text NOT NULL,
    actor text NOT NULL,
    origin text NOT NULL,
    dag_run_id text,
    dry_run boolean NOT NULL,
    status text NOT NULL,
    reason_code text,
    params jsonb NOT NULL DEFAULT '{}'::jsonb,
    counts jsonb NOT NULL DEFAULT '{}'::jsonb,
    undoes bigint REFERENCES patient_pipeline.steward_action (action_id),
    undone_by bigint REFERENCES patient_pipeline.steward_action (action_id),
    created_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    CONSTRAINT ck_steward_action_status CHECK (status IN ('applied', 'refused', 'dry_run', 'undone')),
    CONSTRAINT ck_steward_action_origin CHECK (origin IN ('dag', 'cli', 'test'))
);
CREATE INDEX IF NOT EXISTS ix_steward_action_created ON patient_pipeline.steward_action (created_at);

-- One merge: the two patient rows exactly as they were before (PHI stays in the database), and what moved.
-- The merged patient is `archived`; its pointer to the survivor is this row while `unmerged_at` is NULL
-- (see the view patient_merged_into).
CREATE TABLE IF NOT EXISTS patient_pipeline.steward_merge (
    action_id bigint PRIMARY KEY REFERENCES patient_pipeline.steward_action (action_id),
    survivor_id text NOT NULL,
    merged_id text NOT NULL,
    survivor_before jsonb NOT NULL,
    merged_before jsonb NOT NULL,
    filled_fields text[] NOT NULL,
    moved_invite_ids text[] NOT NULL,
    moved_chat_session_ids text[] NOT NULL,
    moved_user_id text,
    survivor_after_updated_at timestamp without time zone,
    merged_after_updated_at timestamp without time zone,
    unmerged_at timestamp without time zone,
    unmerged_by bigint REFERENCES patient_pipeline.steward_action (action_id)
);
CREATE INDEX IF NOT EXISTS ix_steward_merge_merged ON patient_pipeline.steward_merge (merged_id);
CREATE INDEX IF NOT EXISTS ix_steward_merge_survivor ON patient_pipeline.steward_merge (survivor_id);

-- (No view here reads an application table: the rollback must be able to drop `patients`.)
CREATE OR REPLACE VIEW patient_pipeline.patient_merged_into AS
SELECT m.merged_id AS patient_id, m.survivor_id, m.action_id, a.created_at AS merged_at
FROM patient_pipeline.steward_merge m
JOIN patient_pipeline.steward_action a ON a.action_id = m.action_id
WHERE m.unmerged_at IS NULL;

-- Pairs a steward kept separate. Each side is a set of keys ('id:<patient id>', 'ext:<hash of account +
-- external id>', 'ek:<hash of account + e-mail key + first-name key>', 'invite:<id>', 'user:<id>',
-- 'ref:<kind>:<detail>'), so a pair is still recognised when an import re-creates a side under a new id
-- (undo, then import again).
-- The import review SQL and the backfill review-queue SQL skip a candidate pair that overlaps both sides.
CREATE TABLE IF NOT EXISTS patient_pipeline.steward_kept_separate (
    action_id bigint PRIMARY KEY REFERENCES patient_pipeline.steward_action (action_id),
    left_keys text[] NOT NULL,
    right_keys text[] NOT NULL,
    revoked_at timestamp without time zone,
    revoked_by bigint REFERENCES patient_pipeline.steward_action (action_id)
);
CREATE INDEX IF NOT EXISTS ix_steward_kept_separate_left
    ON patient_pipeline.steward_kept_separate USING gin (left_keys) WHERE revoked_at IS NULL;
CREATE INDEX IF NOT EXISTS ix_steward_kept_separate_right
    ON patient_pipeline.steward_kept_separate USING gin (right_keys) WHERE revoked_at IS NULL;

-- The keys of one patient side (see steward_kept_separate): its id, and hashes (md5: the keys are compared,
-- never read back, and hold no readable PHI) of its external id and of its identity key within the account
-- (the key form of docs/contracts/data-model.md §4 rule 3, 020_key_form.sql).
-- NULL parts are left out. IMMUTABLE: only its arguments.
CREATE OR REPLACE FUNCTION patient_pipeline.steward_patient_keys(
    account_id text, patient_id text, external_id text, email text, first_name text)
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_remove(ARRAY[
        'id:' || patient_id,
        'ext:' || md5(coalesce(account_id, '') || ':' || nullif(patient_pipeline.trim_noise(external_id), '')),
        'ek:' || md5(coalesce(account_id, '') || ':' || nullif(patient_pipeline.email_key(email), '') || ':'
                     || patient_pipeline.key_form(first_name))], NULL)
$$;

-- Whether a steward kept the sides `a` and `b` separate (in either order). What the review SQL of the
-- imports and the backfill asks before queueing a pair.
CREATE OR REPLACE FUNCTION patient_pipeline.steward_kept_apart(a text[], b text[])
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT EXISTS (
        SELECT 1 FROM patient_pipeline.steward_kept_separate k
        WHERE k.revoked_at IS NULL
          AND ((k.left_keys && a AND k.right_keys && b) OR (k.left_keys && b AND k.right_keys && a)))
$$;

-- Replayed quarantine rows: which record of which new file carries the correction of which original row.
CREATE TABLE IF NOT EXISTS patient_pipeline.steward_replay_record (
    action_id bigint NOT NULL REFERENCES patient_pipeline.steward_action (action_id),
    new_file_id bigint NOT NULL REFERENCES patient_pipeline.import_file (file_id),
    new_record_no integer NOT NULL,
    orig_file_id bigint NOT NULL REFERENCES patient_pipeline.import_file (file_id),
    orig_record_no integer NOT NULL,
    PRIMARY KEY (new_file_id, new_record_no)
);
CREATE INDEX IF NOT EXISTS ix_steward_replay_record_orig
    ON patient_pipeline.steward_replay_record (orig_file_id, orig_record_no);

-- Undone import files, per patient: restored (fields back to their previous values), removed (created by
-- the file, nothing linked), kept_linked / kept_changed (listed, not touched). row_before: the full row.
CREATE TABLE IF NOT EXISTS patient_pipeline.steward_undo_patient (
    action_id bigint NOT NULL REFERENCES patient_pipeline.steward_action (action_id),
    file_id bigint NOT NULL REFERENCES patient_pipeline.import_file (file_id),
    patient_id text NOT NULL,
    disposition text NOT NULL,
    row_before jsonb,
    PRIMARY KEY (action_id, patient_id),
    CONSTRAINT ck_steward_undo_disposition CHECK (
        disposition IN ('restored', 'removed', 'kept_linked', 'kept_changed'))
);

-- Columns added to earlier areas' tables, each only when missing (checked in the catalog first, so a
-- database that has them takes no lock at all at every task start):
--   import_change_log.previous_values: the previous values of every import update (the fields
--     merge_update.sql may change, and updated_at), so an import file can be undone. PHI stays here, in
--     the database; never in logs or reports;
--   resolution, resolved_by (and resolved_at where missing) on both review queues and the quarantine,
--     resolved_file_id / resolved_record_no on the quarantine (where a replayed row went);
--   import_file.replay_of (a replayed file points at the file it corrects), import_file.undone_by.
DO $$
DECLARE
    c text[];
BEGIN
    FOREACH c SLICE 1 IN ARRAY ARRAY[
        ['import_change_log', 'previous_values', 'jsonb'],
        ['import_review', 'resolution', 'text'],
        ['import_review', 'resolved_by', 'bigint'],
        ['backfill_review_queue', 'resolved_at', 'timestamp without time zone'],
        ['backfill_review_queue', 'resolution', 'text'],
        ['backfill_review_queue', 'resolved_by', 'bigint'],
        ['import_quarantine', 'resolution', 'text'],
        ['import_quarantine', 'resolved_by', 'bigint'],
        ['import_quarantine', 'resolved_file_id', 'bigint'],
        ['import_quarantine', 'resolved_record_no', 'integer'],
        ['import_file', 'replay_of', 'bigint'],
        ['import_file', 'undone_by', 'bigint']]
    LOOP
        IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                       WHERE table_schema = 'patient_pipeline' AND table_name = c[1] AND column_name = c[2]) THEN
            EXECUTE 'ALTER TABLE patient_pipeline.' || quote_ident(c[1]) || ' ADD COLUMN ' || quote_ident(c[2])
                    || ' ' || c[3];
        END IF;
    END LOOP;
END $$;

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conrelid = 'patient_pipeline.import_file'::regclass AND conname = 'ck_import_file_status'
          AND position('undone' IN pg_get_constraintdef(oid)) > 0
    ) THEN
        ALTER TABLE patient_pipeline.import_file DROP CONSTRAINT IF EXISTS ck_import_file_status;
        ALTER TABLE patient_pipeline.import_file ADD CONSTRAINT ck_import_file_status CHECK (
            status IN ('registered', 'staged', 'merged', 'done', 'rejected', 'held', 'duplicate', 'dry_run',
                       'undone')) NOT VALID;
        ALTER TABLE patient_pipeline.import_file VALIDATE CONSTRAINT ck_import_file_status;
    END IF;
END $$;
