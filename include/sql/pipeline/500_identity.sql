-- Identity (docs/contracts/identity.md): the cross-reference of identifiers per source system (§1b), the matcher's runs
-- and scored pairs (§2), and the one review queue every kind of review item is read through (§3).
-- Reads: the catalog and patient_pipeline tables. Writes: tables and views in patient_pipeline only.
-- Safe to re-run: CREATE ... IF NOT EXISTS, CREATE OR REPLACE VIEW (columns only ever appended).
-- No view here reads an application table: the rollback must be able to drop `patients`.
-- No percent sign in this file: it runs through the driver's placeholder parser.

-- One person, several source systems: (account, namespace, value) -> patient, unique per account and
-- namespace. A namespace is the FHIR identifier system, the HL7 assigning authority (or what the source
-- declares), the CSV source's configured identifier system (default: the source id), or the account's API
-- namespace. `value` is the identifier as matched (trim_noise form). patients.external_id keeps the first
-- identifier a patient got; this table holds every one of them.
--   origin: backfill | import:<file_id> | api | steward:<action_id>
CREATE TABLE IF NOT EXISTS patient_pipeline.patient_identifier (
    account_id text NOT NULL,
    namespace text NOT NULL,
    value text NOT NULL,
    patient_id text NOT NULL,
    origin text NOT NULL,
    created_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    PRIMARY KEY (account_id, namespace, value)
);
CREATE INDEX IF NOT EXISTS ix_patient_identifier_patient ON patient_pipeline.patient_identifier (patient_id);

-- One pass of the probabilistic matcher over one account (or several): counts, model and threshold only.
--   mode: full | incremental; trigger: night | backfill | on_demand
CREATE TABLE IF NOT EXISTS patient_pipeline.match_run (
    match_run_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id text,
    mode text NOT NULL,
    trigger text NOT NULL,
    dag_run_id text,
    model_name text,
    threshold double precision,
    status text NOT NULL DEFAULT 'running',
    counts jsonb NOT NULL DEFAULT '{}'::jsonb,
    started_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    finished_at timestamp without time zone
);

-- Pairs the matcher scored above the review threshold: `probable_duplicate` review items ('match:<pair_id>').
-- patient_id < candidate_patient_id (one row per unordered pair). evidence: per field the comparison level
-- and its match weight, never a value.
CREATE TABLE IF NOT EXISTS patient_pipeline.match_pair (
    pair_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    match_run_id bigint NOT NULL REFERENCES patient_pipeline.match_run (match_run_id),
    account_id text NOT NULL,
    patient_id text NOT NULL,
    candidate_patient_id text NOT NULL,
    match_probability double precision NOT NULL,
    match_weight double precision,
    evidence jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    resolved_at timestamp without time zone,
    resolution text,
    resolved_by bigint
);
CREATE UNIQUE INDEX IF NOT EXISTS ux_match_pair_open
    ON patient_pipeline.match_pair (patient_id, candidate_patient_id) WHERE resolved_at IS NULL;
CREATE INDEX IF NOT EXISTS ix_match_pair_account ON patient_pipeline.match_pair (account_id);

-- The one review queue (docs/contracts/identity.md §3). item_id is the key the stewardship actions name:
-- 'import:<review_id>', 'backfill:<entity>:<id>:<reason>', 'match:<pair_id>'.
-- status: open | merged | kept_separate | dismissed (other resolutions, e.g. file_undone, read as
-- dismissed; the raw value is in `resolution`). decided_by: the steward action's actor.
-- account_id is NULL for backfill items (their queue records no account and this view may not read
-- `patients`).
CREATE OR REPLACE VIEW patient_pipeline.review_queue AS
SELECT x.item_id, x.kind, x.account_id, x.patient_id, x.candidate_patient_id, x.match_probability,
       x.evidence, x.origin_kind, x.origin,
       CASE WHEN x.resolved_at IS NULL THEN 'open'
            WHEN x.resolution IN ('merged', 'kept_separate', 'dismissed') THEN x.resolution
            ELSE 'dismissed' END AS status,
       a.actor AS decided_by, x.resolved_at AS decided_at, x.created_at, x.resolution, x.resolved_by
FROM (
    SELECT 'import:' || r.review_id AS item_id, r.kind, f.account_id::text AS account_id,
           r.patient_id, r.candidate_patient_id, NULL::double precision AS match_probability,
           NULL::jsonb AS evidence, 'import' AS origin_kind,
           'import:' || r.file_id || ':' || r.record_no AS origin,
           r.resolved_at, r.resolution, r.resolved_by, r.created_at
    FROM patient_pipeline.import_review r
    JOIN patient_pipeline.import_file f ON f.file_id = r.file_id
    UNION ALL
    SELECT 'backfill:' || q.entity || ':' || q.entity_id || ':' || q.reason, q.reason, NULL,
           max(q.patient_id), NULL, NULL, NULL, 'backfill', 'backfill:' || max(q.run_id),
           CASE WHEN bool_or(q.resolved_at IS NULL) THEN NULL ELSE max(q.resolved_at) END,
           CASE WHEN bool_or(q.resolved_at IS NULL) THEN NULL ELSE max(q.resolution) END,
           CASE WHEN bool_or(q.resolved_at IS NULL) THEN NULL ELSE max(q.resolved_by) END,
           min(q.recorded_at)
    FROM patient_pipeline.backfill_review_queue q
    GROUP BY q.entity, q.entity_id, q.reason
    UNION ALL
    SELECT 'match:' || m.pair_id, 'probable_duplicate', m.account_id, m.patient_id, m.candidate_patient_id,
           m.match_probability, m.evidence, 'matcher', 'matcher:' || m.match_run_id,
           m.resolved_at, m.resolution, m.resolved_by, m.created_at
    FROM patient_pipeline.match_pair m
) x
LEFT JOIN patient_pipeline.steward_action a ON a.action_id = x.resolved_by;

-- The model a run used (Splink's JSON: comparison levels, labels and m/u numbers; never a value) and its
-- report (counts, pairs per blocking rule, threshold, precision/recall against decisions). Nullable, no
-- default: catalog-only changes.
ALTER TABLE patient_pipeline.match_run ADD COLUMN IF NOT EXISTS model jsonb;
ALTER TABLE patient_pipeline.match_run ADD COLUMN IF NOT EXISTS report jsonb;
CREATE INDEX IF NOT EXISTS ix_match_run_account ON patient_pipeline.match_run (account_id, match_run_id);

-- Identifiers a stewardship merge moved from the merged patient to the survivor (docs/contracts/identity.md §1b), so
-- unmerge gives back exactly these. Ids and identifier keys as stored in patient_identifier.
CREATE TABLE IF NOT EXISTS patient_pipeline.steward_identifier_move (
    action_id bigint NOT NULL REFERENCES patient_pipeline.steward_action (action_id),
    account_id text NOT NULL,
    namespace text NOT NULL,
    value text NOT NULL,
    from_patient_id text NOT NULL,
    to_patient_id text NOT NULL,
    PRIMARY KEY (action_id, account_id, namespace, value)
);
-- Decided pairs are looked up by pair when the matcher queues (write_pairs.sql).
CREATE INDEX IF NOT EXISTS ix_match_pair_pair ON patient_pipeline.match_pair (patient_id, candidate_patient_id);
