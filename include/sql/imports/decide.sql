-- Decide, set-based, what happens to every staged row of one file (one row per staged row):
--   quarantine  normalizer/reader reason (staged with its raw values; such rows take no part in the
--               in-file comparisons below, so they are decided in a branch of their own that skips the
--               window sorts), a value too wide for its patients column, a later row that
--               claims the same identity with other values (conflicting_duplicate), or an external id
--               that points to one patient while e-mail + first name point to another, or to a patient
--               with another external id (identity_conflict) -- never merged;
--   duplicate   a copy (all normalized values; e-mail by its key) of an earlier row of the same file, or,
--               for message feeds (:latest_wins: HL7 ADT, FHIR), a row superseded by a later row with the
--               same external id (A04 then A08 for one patient: the latest message is merged);
--   match       same identifier in the source's namespace (cross-reference patient_identifier, or an
--               unattributed patients.external_id), else same e-mail key + first-name key, within the account;
--   insert      a new patient; its id is generated here (gen_random_uuid), not by a column default.
-- Keys are the key form (docs/contracts/data-model.md §4 rule 3: patient_pipeline.email_key / key_form, the same as the
-- backfill's and include/normalize/keys.py), so a row matches the patient whose stored e-mail or first
-- name differs only in case, white space, invisible characters, compatibility forms or hyphen spacing.
-- The key form is coarser than ux_patients_identity_key's lower(btrim(...)) (texts equal there are equal
-- in the key form), so an insert decided here never collides with that index. The in-file keys are compared in the "C" collation: only equality matters
-- here (the same under every deterministic collation), and the four window sorts over the whole file are
-- several times faster with byte comparisons than with the database's linguistic collation.
-- active and deceased ride along for the merge (status of new patients; deceased -> inactive).
-- Reads: import_staging, patients, patient_identifier. Writes: import_decision.
-- :from_record: the first record decided (0 = the whole file). A chunk of the merge that meets a concurrent
-- writer's patient (23505) re-decides the rows not merged yet (record_no >= the chunk's first): rows
-- merged before are then existing patients, so a later copy of one of them is matched, not a duplicate.
-- Safe to re-run: the caller deletes the file's decisions from :from_record first, in the same transaction.
INSERT INTO patient_pipeline.import_decision (
    file_id, record_no, disposition, reason, reason_field, patient_id, external_id, first_name, last_name,
    email, phone, date_of_birth, event, event_detail, raw, active, deceased)
WITH s AS (
    SELECT st.file_id, st.record_no, st.event,
           CASE WHEN CAST(:latest_wins AS boolean) THEN -st.record_no ELSE st.record_no END AS ord,
           st.event_detail, st.dob_partial COLLATE "C" AS dob_partial, st.active,
           coalesce(st.deceased, false) AS deceased,
           nullif(btrim(st.external_id), '') COLLATE "C" AS external_id,
           nullif(btrim(st.first_name), '') COLLATE "C" AS first_name,
           nullif(btrim(st.last_name), '') COLLATE "C" AS last_name,
           nullif(btrim(st.email), '') AS email,
           nullif(btrim(st.phone), '') COLLATE "C" AS phone,
           st.date_of_birth,
           nullif(patient_pipeline.email_key(st.email), '') COLLATE "C" AS ek,
           nullif(patient_pipeline.key_form(st.first_name), '') COLLATE "C" AS fk,
           CASE
               WHEN nullif(btrim(st.first_name), '') IS NULL THEN 'missing_first_name'
               WHEN nullif(btrim(st.last_name), '') IS NULL THEN 'missing_last_name'
               WHEN length(btrim(st.first_name)) > 100 OR length(btrim(st.last_name)) > 100
                    OR length(btrim(st.email)) > 255 OR length(btrim(st.external_id)) > 255 THEN 'field_too_long'
               WHEN length(btrim(st.phone)) > 20 THEN 'unparseable_phone'
               WHEN nullif(btrim(st.external_id), '') IS NULL AND nullif(btrim(st.email), '') IS NULL
                    THEN 'missing_identifier'
           END AS pre_reason,
           CASE
               WHEN nullif(btrim(st.first_name), '') IS NULL THEN 'first_name'
               WHEN nullif(btrim(st.last_name), '') IS NULL THEN 'last_name'
               WHEN length(btrim(st.first_name)) > 100 THEN 'first_name'
               WHEN length(btrim(st.last_name)) > 100 THEN 'last_name'
               WHEN length(btrim(st.email)) > 255 THEN 'email'
               WHEN length(btrim(st.external_id)) > 255 THEN 'external_id'
               WHEN length(btrim(st.phone)) > 20 THEN 'phone'
               WHEN nullif(btrim(st.external_id), '') IS NULL AND nullif(btrim(st.email), '') IS NULL
                    THEN 'external_id'
           END AS pre_field
    FROM patient_pipeline.import_staging st
    WHERE st.file_id = :file_id AND st.reason IS NULL AND st.record_no >= :from_record
), a AS (
    -- in-file copies: same normalized values, e-mail compared by its key (NULLs are equal in PARTITION BY)
    SELECT s.*,
           row_number() OVER (PARTITION BY pre_reason IS NULL, external_id, ek, first_name, last_name,
                              phone, date_of_birth, dob_partial, active, deceased ORDER BY ord) AS rn_exact
    FROM s
), b AS (
    SELECT a.*, (pre_reason IS NULL AND rn_exact = 1) AS ok FROM a
), c AS (
    -- the first row (in ord: file order, or reverse for message feeds) claiming each external id /
    -- each e-mail + first-name key
    SELECT b.*,
           min(ord) OVER (PARTITION BY ok, external_id) AS first_ext,
           min(ord) OVER (PARTITION BY ok, ek, fk) AS first_ident
    FROM b
), d AS (
    SELECT c.*,
           ok AND (external_id IS NULL OR first_ext = ord) AND (ek IS NULL OR first_ident = ord) AS candidate,
           ok AND CAST(:latest_wins AS boolean) AND external_id IS NOT NULL AND first_ext <> ord AS superseded
    FROM c
), m AS (
    -- the identifier in the file's namespace (:namespace, docs/contracts/identity.md 1b): the cross-reference first; else a
    -- patient whose patients.external_id is the value and is attributed to no namespace (written before the
    -- cross-reference existed: matched in every namespace, as before)
    SELECT d.*, coalesce(px.id, pe.id) AS ext_pid, pi.id AS ident_pid, pi.external_id AS ident_ext,
           -- (CASE: the look-ups run only for rows with an e-mail key match, by the patient_id index)
           CASE WHEN pi.external_id IS NULL THEN false ELSE NOT EXISTS (
               SELECT 1 FROM patient_pipeline.patient_identifier y
               WHERE y.patient_id = pi.id AND y.account_id = CAST(:account_id AS text) AND y.value = pi.external_id)
           END AS ident_ext_legacy,
           CASE WHEN pi.id IS NULL OR d.external_id IS NULL THEN false ELSE EXISTS (
               SELECT 1 FROM patient_pipeline.patient_identifier y
               WHERE y.patient_id = pi.id AND y.account_id = CAST(:account_id AS text)
                 AND y.namespace = CAST(:namespace AS text) AND y.value <> d.external_id)
           END AS ident_ns_other
    FROM d
    LEFT JOIN patient_pipeline.patient_identifier xi
           ON d.candidate AND xi.account_id = CAST(:account_id AS text) AND xi.namespace = CAST(:namespace AS text)
          AND xi.value = d.external_id
    LEFT JOIN patients px ON px.id = xi.patient_id AND px.account_id = CAST(:account_id AS text)
    LEFT JOIN patients pe
           ON d.candidate AND xi.patient_id IS NULL AND pe.account_id = CAST(:account_id AS text) AND pe.external_id = d.external_id
          AND NOT EXISTS (SELECT 1 FROM patient_pipeline.patient_identifier y
                          WHERE y.account_id = CAST(:account_id AS text) AND y.patient_id = pe.id AND y.value = pe.external_id)
    LEFT JOIN patients pi
           ON d.candidate AND pi.account_id = CAST(:account_id AS text) AND pi.email IS NOT NULL
          AND patient_pipeline.email_key(pi.email) = d.ek AND patient_pipeline.key_form(pi.first_name) = d.fk
), t AS (
    -- identity_conflict only for real conflicts: the identifier and the e-mail key point to two patients, or
    -- the e-mail key's patient already holds another value in this namespace (or an unattributed external id
    -- that differs). Another namespace's identifier on the patient is no conflict: the record's identifier
    -- is added to the cross-reference when it merges.
    SELECT m.*,
           candidate AND (
               (ext_pid IS NOT NULL AND ident_pid IS NOT NULL AND ext_pid <> ident_pid)
               OR (ext_pid IS NULL AND ident_pid IS NOT NULL AND external_id IS NOT NULL
                   AND (ident_ns_other OR (ident_ext_legacy AND ident_ext <> external_id)))
           ) AS conflict,
           coalesce(ext_pid, ident_pid) COLLATE "C" AS target
    FROM m
), u AS (
    -- two rows of one file that reach the same existing patient through different keys
    SELECT t.*,
           row_number() OVER (PARTITION BY candidate AND NOT conflict AND target IS NOT NULL, target
                              ORDER BY ord) AS rn_target
    FROM t
)
SELECT file_id, record_no,
       CASE
           WHEN pre_reason IS NOT NULL THEN 'quarantine'
           WHEN NOT ok OR superseded THEN 'duplicate'
           WHEN NOT candidate OR conflict OR (target IS NOT NULL AND rn_target > 1) THEN 'quarantine'
           WHEN target IS NOT NULL THEN 'match'
           ELSE 'insert'
       END AS disposition,
       CASE
           WHEN pre_reason IS NOT NULL THEN pre_reason
           WHEN NOT ok OR superseded THEN NULL
           WHEN NOT candidate THEN 'conflicting_duplicate'
           WHEN conflict THEN 'identity_conflict'
           WHEN target IS NOT NULL AND rn_target > 1 THEN 'conflicting_duplicate'
       END AS reason,
       CASE
           WHEN pre_reason IS NOT NULL THEN pre_field
           WHEN NOT ok OR superseded THEN NULL
           WHEN NOT candidate AND external_id IS NOT NULL AND first_ext <> ord THEN 'external_id'
           WHEN NOT candidate THEN 'email'
           WHEN conflict OR (target IS NOT NULL AND rn_target > 1) THEN 'external_id'
       END AS reason_field,
       CASE
           WHEN pre_reason IS NOT NULL OR NOT ok OR superseded OR NOT candidate OR conflict THEN NULL
           WHEN target IS NOT NULL THEN target
           ELSE gen_random_uuid()::text
       END AS patient_id,
       external_id, first_name, last_name, email, phone, date_of_birth, event, event_detail,
       NULL::jsonb AS raw, active, deceased
FROM u
UNION ALL
-- rows the reader or normalizer already rejected: quarantined as staged (with their raw values)
SELECT st.file_id, st.record_no, 'quarantine', st.reason, st.reason_field, NULL,
       nullif(btrim(st.external_id), ''), nullif(btrim(st.first_name), ''), nullif(btrim(st.last_name), ''),
       nullif(btrim(st.email), ''), nullif(btrim(st.phone), ''), st.date_of_birth, st.event, st.event_detail,
       st.raw, st.active, coalesce(st.deceased, false)
FROM patient_pipeline.import_staging st
WHERE st.file_id = :file_id AND st.reason IS NOT NULL AND st.record_no >= :from_record
