-- Writes per person (docs/concurrency-and-identity-keys.md): the import ledger's chunk progress, the intake
-- API's shared rate limit, the cross-reference backfill of unattributed identifiers, and the single create
-- of the intake API as one server-side function (one round trip, one transaction).
-- Reads: the catalog, patient_pipeline tables. Writes: tables and functions in patient_pipeline only.
-- Safe to re-run: CREATE ... IF NOT EXISTS, CREATE OR REPLACE FUNCTION, the ALTER only when the column is
-- missing. The function bodies read and write `patients` at call time; nothing here reads an application
-- table when this file runs, and no view here reads one.
-- No percent sign in this file: it runs through the driver's placeholder parser.

-- The last record number of the last merged chunk of a file: a re-run of the merge resumes after it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute
                   WHERE attrelid = 'patient_pipeline.import_file'::regclass
                     AND attname = 'merged_through' AND NOT attisdropped) THEN
        PERFORM set_config('lock_timeout', '5000', true);
        ALTER TABLE patient_pipeline.import_file ADD COLUMN merged_through integer;
    END IF;
END
$$;

-- The merge reads one chunk of a file's decisions at a time (record_no ranges): without an index every
-- chunk would scan the whole file's decisions. Created once on the work table (empty between runs).
CREATE INDEX IF NOT EXISTS ix_import_decision_file_record ON patient_pipeline.import_decision (file_id, record_no);

-- The intake API's rate limit, shared by every API process (uvicorn --workers N, several hosts): one token
-- bucket per key. UNLOGGED: a crash forgets the buckets (everyone starts full), which is what a limiter
-- may do; no WAL per call.
CREATE UNLOGGED TABLE IF NOT EXISTS patient_pipeline.api_rate_bucket (
    key_id text PRIMARY KEY,
    tokens double precision NOT NULL,
    refreshed_at timestamp with time zone NOT NULL
);

-- Lease up to `want` tokens of `key` at once, giving back `give_back` unused tokens of an earlier lease first
-- (an API process that is called often takes its tokens in small leases: one statement per lease, not per
-- call; include/api/limits.py). Returns the tokens granted (0..want) and, when none, the seconds until one
-- is there. Never grants more than the bucket holds, so every process together stays within the limit.
CREATE OR REPLACE FUNCTION patient_pipeline.api_rate_lease(p_key text, p_per_second double precision,
                                                           p_burst double precision, p_want integer,
                                                           p_give_back integer)
RETURNS TABLE (granted integer, wait_s double precision) LANGUAGE plpgsql AS $$
DECLARE
    t double precision;
    g integer;
BEGIN
    INSERT INTO patient_pipeline.api_rate_bucket AS b (key_id, tokens, refreshed_at)
    VALUES (p_key, p_burst, clock_timestamp())
    ON CONFLICT (key_id) DO UPDATE
       SET tokens = least(p_burst, b.tokens + greatest(p_give_back, 0)
                                   + extract(epoch FROM clock_timestamp() - b.refreshed_at) * p_per_second),
           refreshed_at = clock_timestamp()
    RETURNING tokens INTO t;
    g := least(greatest(p_want, 1), floor(t))::integer;
    IF g >= 1 THEN
        UPDATE patient_pipeline.api_rate_bucket SET tokens = t - g WHERE key_id = p_key;
        RETURN QUERY SELECT g, 0::double precision;
    ELSE
        RETURN QUERY SELECT 0, (1 - t) / p_per_second;
    END IF;
END
$$;

-- The advisory-lock key of one identity key the intake API decides about (a bigint from the text):
--   'id' namespace value      an identifier in its namespace
--   'ik' e-mail key first key the e-mail key + first-name key (DATA-MODEL 4 rule 3)
CREATE OR REPLACE FUNCTION patient_pipeline.identity_lock_key(p_account text, p_kind text, p_a text, p_b text)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT hashtextextended(p_kind || chr(31) || coalesce(p_account, '') || chr(31) || p_a || chr(31) || p_b, 0)
$$;

-- Backfill of the cross-reference (docs/contracts/identity.md 1b): nothing to do on purpose. The backfill creates patients
-- from invites and users, which carry no external identifier (patients.external_id stays NULL for them); a
-- patients.external_id written before the cross-reference existed (an earlier import or the application)
-- is "unattributed": matching treats it as before (it matches, and conflicts, in every namespace) until a
-- source's record adopts it into its namespace (decide.sql, merge_identifiers.sql, api_create_one below).

-- One single create of the intake API (POST /api/patients), the whole rule in one transaction and one round
-- trip: the ledger row (source kind api), the advisory locks of the identity keys it decides about (taken in
-- sorted order: two creates of one person wait for each other, creates of different people never do), the
-- identity lookup on indexes (the cross-reference's primary key, ux_patients_account_external_id,
-- ux_patients_identity_key confirmed in the key form), then insert or update (never blanking a value),
-- the cross-reference, the change log, a name + date-of-birth review item, and the ledger's counts.
-- The values come normalized by the API (include/normalize, the import's normalizers); p_reason set means the
-- normalizer refused the record: it is quarantined as the import would (values as sent, in p_raw).
-- A unique violation (an import's chunk created the person meanwhile, or the update would give the matched
-- patient another patient's identity key) is re-decided once, then answered as identity_conflict with a
-- review item naming both patients: never an error.
-- p_audit_key: the API key of the call; its audit row (patient_pipeline.api_audit) is written in this same
-- transaction (NULL: no audit row, for internal callers).
-- Returns jsonb: file_id, outcome (inserted | updated | unchanged | quarantined), patient_id, reason, field,
-- conflicting (patient ids), patient (the row, for the response).
DROP FUNCTION IF EXISTS patient_pipeline.api_create_one(text, text, text, text, text, text, bigint, text, text,
    text, text, text, date, text[], text, text, jsonb);
CREATE OR REPLACE FUNCTION patient_pipeline.api_create_one(
    p_account text, p_namespace text, p_clinician text, p_source_id text, p_run_id text, p_sha text,
    p_size bigint, p_external_id text, p_first text, p_last text, p_email text, p_phone text, p_dob date,
    p_issues text[], p_reason text, p_reason_field text, p_raw jsonb, p_audit_key text, p_audit_ms integer)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_file bigint;
    v_ek text := nullif(patient_pipeline.email_key(p_email), '');
    v_fk text := nullif(patient_pipeline.key_form(p_first), '');
    v_ext_pid text;
    v_ident_pid text;
    v_ident_ext text;
    v_conflict boolean := false;
    v_holder text;
    v_target text;
    v_outcome text;
    v_fields text[];
    v_p record;
    v_p_email text;
    v_p_first text;
    v_new_ext text;
    v_attempt integer := 0;
    v_reason text := p_reason;
    v_field text := p_reason_field;
    v_conflicting text[] := '{}';
    v_review integer := 0;
    v_status text;
    v_row jsonb;
    k1 bigint;
    k2 bigint;
BEGIN
    INSERT INTO patient_pipeline.import_file (source_id, account_id, file_name, location, sha256, size_bytes,
                                              status, dag_run_id, rows_read, rows_staged, source_kind)
    VALUES (p_source_id, p_account, 'api-create', p_run_id, p_sha, p_size, 'staged', p_run_id, 1, 1, 'api')
    RETURNING file_id INTO v_file;

    IF v_reason IS NULL THEN
        IF p_issues IS NOT NULL AND cardinality(p_issues) > 0 THEN
            INSERT INTO patient_pipeline.import_field_issue (file_id, record_no, field, reason_code)
            SELECT v_file, 1, split_part(i, ':', 1), split_part(i, ':', 2) FROM unnest(p_issues) AS i
            ON CONFLICT DO NOTHING;
        END IF;
        -- the locks of the keys this call decides about, in sorted order
        IF p_external_id IS NOT NULL THEN
            k1 := patient_pipeline.identity_lock_key(p_account, 'id', p_namespace, p_external_id);
        END IF;
        IF v_ek IS NOT NULL THEN
            k2 := patient_pipeline.identity_lock_key(p_account, 'ik', v_ek, coalesce(v_fk, ''));
        END IF;
        IF k1 IS NOT NULL AND k2 IS NOT NULL THEN
            PERFORM pg_advisory_xact_lock(least(k1, k2));
            IF k1 <> k2 THEN
                PERFORM pg_advisory_xact_lock(greatest(k1, k2));
            END IF;
        ELSIF coalesce(k1, k2) IS NOT NULL THEN
            PERFORM pg_advisory_xact_lock(coalesce(k1, k2));
        END IF;

        LOOP
            v_attempt := v_attempt + 1;
            v_ext_pid := NULL; v_ident_pid := NULL; v_ident_ext := NULL; v_conflict := false; v_holder := NULL;
            IF p_external_id IS NOT NULL THEN
                SELECT p.id INTO v_ext_pid
                FROM patient_pipeline.patient_identifier x JOIN patients p ON p.id = x.patient_id
                WHERE x.account_id = p_account AND x.namespace = p_namespace AND x.value = p_external_id;
                IF v_ext_pid IS NULL THEN
                    SELECT p.id INTO v_ext_pid FROM patients p
                    WHERE p.account_id = p_account AND p.external_id = p_external_id
                      AND NOT EXISTS (SELECT 1 FROM patient_pipeline.patient_identifier y
                                      WHERE y.account_id = p_account AND y.patient_id = p.id
                                        AND y.value = p.external_id);
                END IF;
            END IF;
            IF v_ek IS NOT NULL THEN
                SELECT p.id, p.external_id INTO v_ident_pid, v_ident_ext FROM patients p
                WHERE p.account_id = p_account AND p.email IS NOT NULL AND lower(btrim(p.email)) = v_ek
                  AND patient_pipeline.email_key(p.email) = v_ek AND patient_pipeline.key_form(p.first_name) = v_fk
                ORDER BY p.id LIMIT 1;
            END IF;
            IF v_ext_pid IS NOT NULL AND v_ident_pid IS NOT NULL AND v_ext_pid <> v_ident_pid THEN
                v_conflict := true; v_conflicting := ARRAY[v_ext_pid, v_ident_pid]; v_field := 'external_id';
            ELSIF v_ext_pid IS NULL AND v_ident_pid IS NOT NULL AND p_external_id IS NOT NULL AND (
                    EXISTS (SELECT 1 FROM patient_pipeline.patient_identifier y
                            WHERE y.account_id = p_account AND y.namespace = p_namespace
                              AND y.patient_id = v_ident_pid AND y.value <> p_external_id)
                    OR (v_ident_ext IS NOT NULL AND v_ident_ext <> p_external_id
                        AND NOT EXISTS (SELECT 1 FROM patient_pipeline.patient_identifier y
                                        WHERE y.account_id = p_account AND y.patient_id = v_ident_pid
                                          AND y.value = v_ident_ext))) THEN
                v_conflict := true; v_conflicting := ARRAY[v_ident_pid]; v_field := 'external_id';
            END IF;
            EXIT WHEN v_conflict;
            v_target := coalesce(v_ext_pid, v_ident_pid);
            BEGIN
                IF v_target IS NOT NULL THEN
                    SELECT * INTO v_p FROM patients WHERE id = v_target FOR UPDATE;
                    v_p_email := v_p.email;
                    v_p_first := v_p.first_name;
                    v_new_ext := NULL;
                    IF v_p.external_id IS NULL AND p_external_id IS NOT NULL AND NOT EXISTS (
                            SELECT 1 FROM patients q WHERE q.account_id = p_account
                              AND q.external_id = p_external_id AND q.id <> v_target) THEN
                        v_new_ext := p_external_id;
                    END IF;
                    v_fields := array_remove(ARRAY[
                        CASE WHEN v_new_ext IS NOT NULL THEN 'external_id' END,
                        CASE WHEN p_email IS NOT NULL AND p_email IS DISTINCT FROM v_p.email THEN 'email' END,
                        CASE WHEN p_first IS NOT NULL AND p_first IS DISTINCT FROM v_p.first_name THEN 'first_name' END,
                        CASE WHEN p_last IS NOT NULL AND p_last IS DISTINCT FROM v_p.last_name THEN 'last_name' END,
                        CASE WHEN p_phone IS NOT NULL AND p_phone IS DISTINCT FROM v_p.phone THEN 'phone' END,
                        CASE WHEN p_dob IS NOT NULL AND p_dob IS DISTINCT FROM v_p.date_of_birth THEN 'date_of_birth' END,
                        CASE WHEN v_p.clinician_id IS NULL AND p_clinician IS NOT NULL THEN 'clinician_id' END], NULL);
                    IF cardinality(v_fields) > 0 THEN
                        INSERT INTO patient_pipeline.import_change_log (file_id, patient_id, change_kind,
                                                                       changed_fields, previous_values)
                        VALUES (v_file, v_target, 'update', v_fields, jsonb_build_object(
                            'external_id', v_p.external_id, 'email', v_p.email, 'first_name', v_p.first_name,
                            'last_name', v_p.last_name, 'phone', v_p.phone, 'date_of_birth', v_p.date_of_birth,
                            'clinician_id', v_p.clinician_id, 'status', v_p.status, 'updated_at', v_p.updated_at));
                        UPDATE patients p
                           SET external_id = coalesce(p.external_id, v_new_ext), email = coalesce(p_email, p.email),
                               first_name = coalesce(p_first, p.first_name), last_name = coalesce(p_last, p.last_name),
                               phone = coalesce(p_phone, p.phone), date_of_birth = coalesce(p_dob, p.date_of_birth),
                               clinician_id = coalesce(p.clinician_id, p_clinician),
                               updated_at = now() AT TIME ZONE 'utc'
                         WHERE p.id = v_target;
                        v_outcome := 'updated';
                    ELSE
                        v_outcome := 'unchanged';
                    END IF;
                ELSE
                    v_target := gen_random_uuid()::text;
                    INSERT INTO patients (id, account_id, clinician_id, external_id, email, first_name, last_name,
                                          phone, date_of_birth, status, created_at, updated_at)
                    VALUES (v_target, p_account, p_clinician,
                            CASE WHEN p_external_id IS NOT NULL AND NOT EXISTS (
                                     SELECT 1 FROM patients q WHERE q.account_id = p_account
                                       AND q.external_id = p_external_id) THEN p_external_id END,
                            p_email, p_first, p_last, p_phone, p_dob, 'pending',
                            now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc');
                    INSERT INTO patient_pipeline.import_insert_log (file_id, changed_fields, patient_ids)
                    VALUES (v_file, array_remove(ARRAY['first_name', 'last_name',
                                CASE WHEN p_external_id IS NOT NULL THEN 'external_id' END,
                                CASE WHEN p_email IS NOT NULL THEN 'email' END,
                                CASE WHEN p_phone IS NOT NULL THEN 'phone' END,
                                CASE WHEN p_dob IS NOT NULL THEN 'date_of_birth' END,
                                CASE WHEN p_clinician IS NOT NULL THEN 'clinician_id' END], NULL),
                            ARRAY[v_target]);
                    v_outcome := 'inserted';
                END IF;
                IF p_external_id IS NOT NULL THEN  -- a row whose patient is gone (an undone import) is dropped
                    DELETE FROM patient_pipeline.patient_identifier x
                    WHERE x.account_id = p_account AND x.namespace = p_namespace AND x.value = p_external_id
                      AND NOT EXISTS (SELECT 1 FROM patients p WHERE p.id = x.patient_id);
                END IF;
                IF p_external_id IS NOT NULL AND NOT EXISTS (
                        SELECT 1 FROM patient_pipeline.patient_identifier x
                        WHERE x.account_id = p_account AND x.namespace = p_namespace AND x.value = p_external_id
                          AND x.patient_id = v_target) THEN
                    INSERT INTO patient_pipeline.patient_identifier (account_id, namespace, value, patient_id, origin)
                    VALUES (p_account, p_namespace, p_external_id, v_target, 'api');
                END IF;
                EXIT;
            EXCEPTION WHEN unique_violation THEN
                -- another writer holds the identity now (an import chunk created the person, or the update
                -- would give the matched patient another patient's key): decide again once, then conflict
                IF v_attempt >= 2 THEN
                    SELECT q.id INTO v_holder FROM patients q
                    WHERE q.account_id = p_account AND q.email IS NOT NULL AND q.id IS DISTINCT FROM v_ext_pid
                      AND q.id IS DISTINCT FROM v_ident_pid
                      AND lower(btrim(q.email)) = patient_pipeline.email_key(coalesce(p_email, v_p_email))
                      AND patient_pipeline.key_form(q.first_name)
                          = patient_pipeline.key_form(coalesce(p_first, v_p_first))
                    ORDER BY q.id LIMIT 1;
                    v_conflict := true;
                    v_conflicting := array_remove(ARRAY[coalesce(v_ext_pid, v_ident_pid), v_holder], NULL);
                    v_field := CASE WHEN v_holder IS NOT NULL THEN 'email' ELSE 'external_id' END;
                    EXIT;
                END IF;
            END;
        END LOOP;
        IF v_conflict THEN
            v_reason := 'identity_conflict';
        END IF;
    END IF;

    IF v_reason IS NOT NULL THEN
        INSERT INTO patient_pipeline.import_quarantine (file_id, record_no, reason_code, field, raw_values, decided_by)
        VALUES (v_file, 1, v_reason, v_field,
                coalesce(p_raw, jsonb_strip_nulls(jsonb_build_object(
                    'external_id', p_external_id, 'first_name', p_first, 'last_name', p_last, 'email', p_email,
                    'phone', p_phone, 'date_of_birth', p_dob))),
                CASE WHEN p_raw IS NOT NULL THEN 'normalizer' ELSE 'validation' END);
        IF v_reason = 'identity_conflict' AND cardinality(v_conflicting) > 0 THEN
            INSERT INTO patient_pipeline.import_review (file_id, record_no, kind, patient_id, candidate_patient_id)
            VALUES (v_file, 1, 'identity_conflict', v_conflicting[1], v_conflicting[2]);
            v_review := 1;
        END IF;
        v_outcome := 'quarantined';
        v_target := NULL;
    ELSIF v_outcome = 'inserted' AND p_dob IS NOT NULL THEN
        -- a name + date-of-birth look-alike is queued for review, never merged (as review_name_dob.sql)
        INSERT INTO patient_pipeline.import_review (file_id, record_no, kind, patient_id, candidate_patient_id)
        SELECT v_file, 1, 'name_dob_match', v_target, p.id
        FROM patients p
        WHERE p.account_id = p_account AND p.date_of_birth = p_dob AND p.id <> v_target
          AND patient_pipeline.key_form(p.first_name) = v_fk
          AND patient_pipeline.key_form(p.last_name) = patient_pipeline.key_form(p_last)
          AND NOT patient_pipeline.steward_kept_apart(
              patient_pipeline.steward_patient_keys(p_account, p.id, p.external_id, p.email, p.first_name),
              patient_pipeline.steward_patient_keys(p_account, v_target, p_external_id, p_email, p_first))
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS v_review = ROW_COUNT;
    END IF;

    UPDATE patient_pipeline.import_file
       SET status = 'done', reconciled = true, gx_success = NULL,
           inserted = (v_outcome = 'inserted')::int, updated = (v_outcome = 'updated')::int,
           unchanged = (v_outcome = 'unchanged')::int, duplicates = 0,
           quarantined = (v_outcome = 'quarantined')::int, review_items = v_review,
           field_issue_rows = CASE WHEN v_reason IS NULL AND cardinality(coalesce(p_issues, '{}')) > 0 THEN 1
                                   ELSE 0 END,
           merged_through = 1, updated_at = now() AT TIME ZONE 'utc', finished_at = now() AT TIME ZONE 'utc'
     WHERE file_id = v_file;

    IF p_audit_key IS NOT NULL THEN
        -- the call's audit row in the same transaction (the API's middleware then writes none): who changed
        -- which patient is committed with the change itself; the status is the one the route answers
        INSERT INTO patient_pipeline.api_audit (key_id, account_id, method, route, status, duration_ms, patient_ids,
                                                counts, file_id)
        VALUES (p_audit_key, p_account, 'POST', '/api/patients',
                CASE v_outcome WHEN 'inserted' THEN 201 WHEN 'quarantined' THEN
                    CASE WHEN v_reason = 'identity_conflict' THEN 409 ELSE 422 END ELSE 200 END,
                p_audit_ms,
                ARRAY(SELECT DISTINCT x FROM unnest(array_append(v_conflicting, v_target)) AS x
                      WHERE x IS NOT NULL ORDER BY 1),
                jsonb_build_object('rows', 1, v_outcome, 1), v_file);
    END IF;

    IF v_target IS NOT NULL THEN
        SELECT to_jsonb(p) INTO v_row FROM (
            SELECT id, account_id, clinician_id, external_id, email, first_name, last_name, phone, date_of_birth,
                   status, created_at, updated_at FROM patients WHERE id = v_target) p;
    END IF;
    RETURN jsonb_build_object('file_id', v_file, 'outcome', v_outcome, 'patient_id', v_target,
                              'reason', v_reason, 'field', v_field, 'conflicting', to_jsonb(v_conflicting),
                              'patient', v_row);
END
$$;
