-- Bookkeeping of the invite-first -> patient-first backfill (docs/contracts/data-model.md §4).
-- Reads: nothing. Writes: tables and helper functions in schema patient_pipeline only.
-- Safe to re-run: every statement is CREATE ... IF NOT EXISTS or CREATE OR REPLACE.
--
-- Durable (logged) tables: the plan header, checkpoints, patient and link ledgers, quarantine and
-- review queue. The plan's working tables (backfill_plan_*) are UNLOGGED: they are rebuilt by every
-- plan and a server crash that empties them is detected (row counts are kept in the plan header) and
-- answered with "re-run plan_backfill".

CREATE SCHEMA IF NOT EXISTS patient_pipeline;

-- One row per plan built; the plan tables always hold the newest plan (the highest plan_id).
CREATE TABLE IF NOT EXISTS patient_pipeline.backfill_plans (
    plan_id bigserial PRIMARY KEY,
    run_id varchar(250) NOT NULL,
    state varchar(16) NOT NULL DEFAULT 'building',   -- building | ready
    plan_invites bigint,
    plan_persons bigint,
    plan_users bigint,
    plan_chats bigint,
    summary jsonb,
    created_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    ready_at timestamp without time zone
);

-- One row per (run, plan, phase): the last committed key of a batched phase. Written in the same
-- transaction as the batch it describes, so a killed run resumes right after its last commit.
CREATE TABLE IF NOT EXISTS patient_pipeline.backfill_checkpoints (
    run_id varchar(250) NOT NULL,
    plan_id bigint NOT NULL,
    phase varchar(40) NOT NULL,
    last_key text,
    rows bigint NOT NULL DEFAULT 0,
    batches integer NOT NULL DEFAULT 0,
    done boolean NOT NULL DEFAULT false,
    started_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    PRIMARY KEY (run_id, plan_id, phase)
);

-- The ledgers (rule 10): every patient a backfill run inserted (the rollback deletes exactly these)
-- and every link column it filled (invites.patient_id, patients.user_id, chat_sessions.patient_id;
-- the rollback nulls exactly these). Stored as one row per batch holding the batch's ids as arrays:
-- a 10,000-row batch writes one ledger row and one index entry, not 10,000 rows with a 3-column
-- primary key each (per-row ledgers cost about as much as the batch's own UPDATE). Every reader
-- reads the per-row views below. An entity appears at most once per run: the batches only fill
-- NULL links, and undo_run forgets a run's links before a rerun could write them again.
CREATE TABLE IF NOT EXISTS patient_pipeline.backfill_patient_ledger_batches (
    batch_id bigserial PRIMARY KEY,
    run_id varchar(250) NOT NULL,
    patient_ids varchar(36)[] NOT NULL,
    recorded_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX IF NOT EXISTS ix_backfill_patient_ledger_batches_run
    ON patient_pipeline.backfill_patient_ledger_batches (run_id);

CREATE TABLE IF NOT EXISTS patient_pipeline.backfill_link_ledger_batches (
    batch_id bigserial PRIMARY KEY,
    run_id varchar(250) NOT NULL,
    entity varchar(16) NOT NULL CHECK (entity IN ('invite', 'user', 'chat_session')),
    entity_ids varchar(36)[] NOT NULL,
    patient_ids varchar(36)[] NOT NULL,  -- patient_ids[n] is the patient entity_ids[n] was linked to
    recorded_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    CHECK (cardinality(entity_ids) = cardinality(patient_ids))
);
CREATE INDEX IF NOT EXISTS ix_backfill_link_ledger_batches_run
    ON patient_pipeline.backfill_link_ledger_batches (run_id);

-- Databases written by an earlier version hold per-row ledger tables under the view names: move
-- their rows into the batch tables (one row per run and entity) and drop them, so nothing recorded
-- is lost and the views below can take their names.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class
               WHERE oid = to_regclass('patient_pipeline.backfill_patient_ledger') AND relkind = 'r') THEN
        INSERT INTO patient_pipeline.backfill_patient_ledger_batches (run_id, patient_ids, recorded_at)
        SELECT run_id, array_agg(patient_id ORDER BY patient_id), max(recorded_at)
        FROM patient_pipeline.backfill_patient_ledger
        WHERE created_by_run
        GROUP BY run_id;
        DROP TABLE patient_pipeline.backfill_patient_ledger;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_class
               WHERE oid = to_regclass('patient_pipeline.backfill_link_ledger') AND relkind = 'r') THEN
        INSERT INTO patient_pipeline.backfill_link_ledger_batches (run_id, entity, entity_ids, patient_ids,
                                                                   recorded_at)
        SELECT run_id, entity, array_agg(entity_id ORDER BY entity_id), array_agg(patient_id ORDER BY entity_id),
               max(recorded_at)
        FROM patient_pipeline.backfill_link_ledger
        GROUP BY run_id, entity;
        DROP TABLE patient_pipeline.backfill_link_ledger;
    END IF;
END
$$;

-- One row per patient a run created.
CREATE OR REPLACE VIEW patient_pipeline.backfill_patient_ledger AS
SELECT b.run_id, p.patient_id, true AS created_by_run, b.recorded_at
FROM patient_pipeline.backfill_patient_ledger_batches b
CROSS JOIN LATERAL unnest(b.patient_ids) AS p(patient_id);

-- One row per link a run wrote; patient_created_by_run: the patient is in the run's patient ledger.
CREATE OR REPLACE VIEW patient_pipeline.backfill_link_ledger AS
SELECT b.run_id, b.entity, l.entity_id, l.patient_id, (c.patient_id IS NOT NULL) AS patient_created_by_run,
       b.recorded_at
FROM patient_pipeline.backfill_link_ledger_batches b
CROSS JOIN LATERAL unnest(b.entity_ids, b.patient_ids) AS l(entity_id, patient_id)
LEFT JOIN (
    SELECT DISTINCT pb.run_id, p.patient_id
    FROM patient_pipeline.backfill_patient_ledger_batches pb
    CROSS JOIN LATERAL unnest(pb.patient_ids) AS p(patient_id)
) c ON c.run_id = b.run_id AND c.patient_id = l.patient_id;

-- Rows the backfill refused to link (rule 7): ids and reason codes only. Current state per run.
CREATE TABLE IF NOT EXISTS patient_pipeline.backfill_quarantine (
    run_id varchar(250) NOT NULL,
    entity varchar(16) NOT NULL,
    entity_id varchar(36) NOT NULL,
    reason varchar(64) NOT NULL,
    recorded_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    PRIMARY KEY (run_id, entity, entity_id)
);

-- Decisions a person should look at (rule 3: a nameless invite joined the most recent of several
-- persons). Kept once recorded (a later re-plan no longer sees the linked invite).
CREATE TABLE IF NOT EXISTS patient_pipeline.backfill_review_queue (
    run_id varchar(250) NOT NULL,
    entity varchar(16) NOT NULL,
    entity_id varchar(36) NOT NULL,
    reason varchar(64) NOT NULL,
    patient_id varchar(36),
    recorded_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    PRIMARY KEY (run_id, entity, entity_id, reason)
);

-- Working tables of the newest plan (UNLOGGED, rebuilt per plan; see the header of this file).
CREATE UNLOGGED TABLE IF NOT EXISTS patient_pipeline.backfill_plan_invites (
    invite_id varchar(36) PRIMARY KEY,
    account_id varchar(36),
    email_key text NOT NULL,
    name_key text,                 -- NULL: nameless (no usable first name, no user name)
    name_display text,             -- the first name this invite contributes (trimmed), if any
    name_src_last text,            -- last name of the user the name came from, if it came from a user
    person_key text,
    inv_user_id varchar(36),       -- invites.user_id when it names a role-patient user
    email_trimmed varchar(255),
    first_name text,
    last_name text,
    phone text,
    clinician_id varchar(36),
    status_norm text,
    expires_at timestamp without time zone,
    created_at timestamp without time zone NOT NULL,
    revoked boolean NOT NULL,
    disposition varchar(16) NOT NULL DEFAULT 'link',  -- link | quarantine
    reason varchar(64),            -- quarantine reason (missing_name, missing_email)
    review_reason varchar(64)      -- nameless_invite_multiple_persons
);

CREATE UNLOGGED TABLE IF NOT EXISTS patient_pipeline.backfill_plan_users (
    user_id varchar(36) PRIMARY KEY,
    email_key text NOT NULL,
    email_trimmed varchar(255),
    first_key text,
    first_name text,
    last_name text,
    own_account_id varchar(36),
    clinician_account_id varchar(36),
    clinician_id varchar(36),
    date_of_birth date,
    phone text,
    created_at timestamp without time zone,
    person_key text,
    disposition varchar(16) NOT NULL DEFAULT 'link',  -- link | quarantine | review
    reason varchar(64)
) WITH (fillfactor = 50);

CREATE UNLOGGED TABLE IF NOT EXISTS patient_pipeline.backfill_plan_persons (
    person_key text PRIMARY KEY,
    account_id varchar(36),
    email_key text NOT NULL,
    name_key text NOT NULL,
    source varchar(16) NOT NULL,       -- invite | user | existing
    existing_patient_id varchar(36),   -- a patient with this identity key already exists (rule 8)
    existing_user_id varchar(36),      -- that patient's user, if any
    patient_id varchar(36) NOT NULL,   -- existing id, or the deterministic id derived from the key
    group_size integer,
    has_accepted boolean NOT NULL DEFAULT false,
    user_id varchar(36),
    email varchar(255),
    first_name varchar(100),
    last_name varchar(100),
    phone varchar(20),
    phone_unparseable boolean NOT NULL DEFAULT false,
    date_of_birth date,
    status varchar(20),
    clinician_id varchar(36),
    disposition varchar(16) NOT NULL DEFAULT 'create'   -- create | matched | quarantine
) WITH (fillfactor = 50);

-- The plan rewrites every person (plan_10, attributes) and most users and persons again (plan_08,
-- matching): with half of each page free those updates stay on their page (HOT, no new index entry),
-- which takes about a sixth off the plan at 1M invites. Tables created by an earlier version get the
-- setting here; it applies to the pages the next plan writes after its TRUNCATE.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['backfill_plan_users', 'backfill_plan_persons'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_class
                       WHERE oid = to_regclass('patient_pipeline.' || t)
                         AND 'fillfactor=50' = ANY (coalesce(reloptions, '{}'))) THEN
            EXECUTE 'ALTER TABLE patient_pipeline.' || quote_ident(t) || ' SET (fillfactor = 50)';
        END IF;
    END LOOP;
END
$$;

CREATE UNLOGGED TABLE IF NOT EXISTS patient_pipeline.backfill_plan_chats (
    chat_id varchar(36) PRIMARY KEY,
    user_id varchar(36) NOT NULL
);

-- The walk order of the batched phases (issue 25). link_invites and link_chat_sessions walk their rows
-- in the heap order of the table they update: walk_key is the row's block number at plan time
-- (zero-padded, so text order is block order) followed by its id (unique, a keyset). Consecutive
-- batches then update consecutive heap pages, and a batch dirties a bounded set of pages at any table
-- size (in id order, the ids being random UUIDs, every batch dirtied random pages of the whole table).
-- The key only orders the walk: every batch UPDATE matches its rows by primary key, so a row the
-- application updated (moved by HOT or to another page) after the plan is still found and handled.
-- link_users walks only the users create_patients does not link itself (link_walk), so it
-- runs no batch that can only find nothing. COLLATE "C": byte order, cheap and the same on every server.
-- Run only when missing (ALTER TABLE and CREATE INDEX lock the table even when they would skip): this
-- file runs at every task start, possibly while a phase's lanes read the plan tables.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'patient_pipeline.backfill_plan_invites'::regclass
                   AND attname = 'walk_key' AND NOT attisdropped) THEN
        ALTER TABLE patient_pipeline.backfill_plan_invites ADD COLUMN walk_key text COLLATE "C";
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'patient_pipeline.backfill_plan_chats'::regclass
                   AND attname = 'walk_key' AND NOT attisdropped) THEN
        ALTER TABLE patient_pipeline.backfill_plan_chats ADD COLUMN walk_key text COLLATE "C";
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'patient_pipeline.backfill_plan_users'::regclass
                   AND attname = 'link_walk' AND NOT attisdropped) THEN
        ALTER TABLE patient_pipeline.backfill_plan_users ADD COLUMN link_walk boolean NOT NULL DEFAULT false;
    END IF;
    IF to_regclass('patient_pipeline.ix_backfill_plan_invites_walk') IS NULL THEN
        CREATE INDEX ix_backfill_plan_invites_walk ON patient_pipeline.backfill_plan_invites (walk_key);
    END IF;
    IF to_regclass('patient_pipeline.ix_backfill_plan_chats_walk') IS NULL THEN
        CREATE INDEX ix_backfill_plan_chats_walk ON patient_pipeline.backfill_plan_chats (walk_key);
    END IF;
END
$$;

-- walk_key of a row: its heap block number (10 digits: a block number is below 2^32) and its id.
CREATE OR REPLACE FUNCTION patient_pipeline.bf_walk_key(row_ctid tid, id text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT lpad(((row_ctid::text)::point)[0]::bigint::text, 10, '0') || ':' || id
$$;

-- Helpers. All IMMUTABLE single-expression SQL functions, so PostgreSQL inlines them.

-- A first/last name that can be stored: trimmed of white space and invisible format characters
-- (trim_noise, docs/contracts/data-model.md §4 rule 3: what was typed, trimmed), not blank, not a placeholder; else NULL.
CREATE OR REPLACE FUNCTION patient_pipeline.bf_usable_name(raw text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        -- NULL, blank, white space or invisible characters only, no letter at all
        WHEN raw !~ '[[:alpha:]]' THEN NULL
        WHEN patient_pipeline.key_form(raw) IN ('unknown', 'n/a', 'na', 'none', 'null', 'nil', '-', '--', '.', '?',
                                                'tbd', 'x', 'xx', 'xxx', 'patient', 'firstname', 'lastname',
                                                'first name', 'last name') THEN NULL
        ELSE patient_pipeline.trim_noise(raw)
    END
$$;

-- users.name without leading titles (Dr., Mr., Mrs., Ms., Miss, Mx., Prof., ...) and trailing
-- suffixes (MD, PhD, Jr., Sr., ...); trimmed of white space and invisible format characters
-- (trim_noise), inner white-space runs (any Unicode white space, as in key_form) folded to one space.
CREATE OR REPLACE FUNCTION patient_pipeline.bf_strip_titles(raw text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT patient_pipeline.trim_noise(regexp_replace(regexp_replace(regexp_replace(
        patient_pipeline.trim_noise(coalesce(raw, '')),
        '^((dr|mr|mrs|ms|miss|mx|prof|rev|sir)\.?([\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+|$))+', '', 'i'),
        '(,?[\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+(md|m\.d\.|phd|ph\.d\.|jr\.?|sr\.?|ii|iii|iv|rn|dds))+$', '', 'i'),
        '[\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+', ' ', 'g'))
$$;

-- First name of a users.name already passed through bf_strip_titles: all tokens but the last (the
-- only token when there is one). Callers strip once per row (strip is the expensive part).
CREATE OR REPLACE FUNCTION patient_pipeline.bf_split_first(stripped text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT patient_pipeline.bf_usable_name(left(CASE
        WHEN position(' ' IN stripped) = 0 THEN stripped
        ELSE left(stripped, length(stripped) - position(' ' IN reverse(stripped)))
    END, 100))
$$;

-- Last name of a users.name already passed through bf_strip_titles: the last token (NULL when the
-- name has a single token).
CREATE OR REPLACE FUNCTION patient_pipeline.bf_split_last(stripped text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN position(' ' IN stripped) = 0 THEN NULL
        ELSE patient_pipeline.bf_usable_name(left(right(stripped, position(' ' IN reverse(stripped)) - 1), 100))
    END
$$;

-- E.164 for the common shapes: 10 digits -> +1..., 11 digits starting with 1 -> +..., +8..15 digits
-- kept; anything else (letters, extensions, other lengths) -> NULL (counted as unparseable).
-- Separators (space, parentheses, dash, dot, slash) are dropped with translate(), no regex rewrite;
-- white space and invisible format characters at both ends first (trim_noise).
CREATE OR REPLACE FUNCTION patient_pipeline.bf_e164(raw text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN translate(patient_pipeline.trim_noise(raw), ' ()-./', '') ~ '^\+[0-9]{8,15}$' THEN translate(patient_pipeline.trim_noise(raw), ' ()-./', '')
        WHEN translate(patient_pipeline.trim_noise(raw), ' ()-./', '') ~ '^[0-9]{10}$' THEN '+1' || translate(patient_pipeline.trim_noise(raw), ' ()-./', '')
        WHEN translate(patient_pipeline.trim_noise(raw), ' ()-./', '') ~ '^1[0-9]{10}$' THEN '+' || translate(patient_pipeline.trim_noise(raw), ' ()-./', '')
    END
$$;

-- The person key: md5 of the identity key (account, e-mail key, first-name key). A NULL account
-- (the unresolved-account bucket) is spelled differently from every real account id.
CREATE OR REPLACE FUNCTION patient_pipeline.bf_person_key(account_id text, email_key text, name_key text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT md5(coalesce('a:' || account_id, 'unresolved') || chr(31) || email_key || chr(31) || name_key)
$$;

-- A deterministic patient id (a UUID-shaped md5) derived from the person key, so a crashed-and-rerun
-- backfill creates exactly the ids an uninterrupted one would.
CREATE OR REPLACE FUNCTION patient_pipeline.bf_patient_id(person_key text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT md5('genascope.patient.v1' || chr(31) || person_key)::uuid::text
$$;
