-- Fills the attributes of every person to create (rules 4 and 6). Per attribute: the most recent
-- (created_at, id) non-revoked invite of the person that has it, else any invite that has it, else
-- the person's user (split name, e-mail) and its patient_profiles row (DOB date part, phone).
-- Phones go to E.164 for the common shapes (bf_e164), else NULL and flagged phone_unparseable.
-- Status: an accepted/completed invite or a user -> active; else a pending invite not yet expired
-- (expires_at NULL or in the future, UTC) -> pending; else inactive. A person left without a usable
-- first or last name gets no placeholder: disposition 'quarantine' (rule 7, see plan_11).
-- Reads: plan tables. Writes: backfill_plan_persons only.
-- Safe to re-run: the plan is rebuilt per run; nothing outside the plan is written.
WITH agg AS (
    -- One sort of the person's invites (non-revoked first, then most recent (created_at, id)); each
    -- attribute is the first non-NULL value in that order. Window aggregates over the whole
    -- partition see the rows in the window's ORDER BY, so the order is guaranteed without a sort per
    -- person and attribute; the first row of each partition carries the results.
    SELECT * FROM (
        SELECT pi.person_key,
               (array_agg(pi.name_display) FILTER (WHERE pi.name_display IS NOT NULL) OVER w)[1] AS first_name,
               (array_agg(pi.last_name) FILTER (WHERE pi.last_name IS NOT NULL) OVER w)[1] AS last_name,
               (array_agg(pi.name_src_last) FILTER (WHERE pi.name_src_last IS NOT NULL) OVER w)[1] AS src_last,
               (array_agg(pi.phone) FILTER (WHERE pi.phone IS NOT NULL) OVER w)[1] AS phone,
               first_value(pi.email_trimmed) OVER w AS email,
               (array_agg(pi.clinician_id) FILTER (WHERE pi.clinician_id IS NOT NULL) OVER w)[1] AS clinician_id,
               bool_or(pi.status_norm IN ('accepted', 'completed')) OVER w AS accepted,
               bool_or(pi.status_norm = 'pending'
                       AND (pi.expires_at IS NULL OR pi.expires_at > (now() AT TIME ZONE 'utc'))) OVER w AS pending,
               row_number() OVER w AS rn
        FROM patient_pipeline.backfill_plan_invites pi
        JOIN patient_pipeline.backfill_plan_persons pp ON pp.person_key = pi.person_key
        WHERE pi.disposition = 'link' AND pp.disposition = 'create'
        WINDOW w AS (PARTITION BY pi.person_key ORDER BY pi.revoked, pi.created_at DESC, pi.invite_id DESC
                     ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
    ) ranked
    WHERE rn = 1
), attrs AS (
    SELECT pp.person_key,
           left(coalesce(a.first_name, u.first_name), 100) AS first_name,
           left(coalesce(a.last_name, u.last_name, a.src_last), 100) AS last_name,
           coalesce(a.phone, u.phone) AS phone_raw,
           left(coalesce(a.email, u.email_trimmed), 255) AS email,
           coalesce(a.clinician_id, u.clinician_id) AS clinician_id,
           u.date_of_birth,
           CASE WHEN coalesce(a.accepted, false) OR pp.user_id IS NOT NULL THEN 'active'
                WHEN coalesce(a.pending, false) THEN 'pending'
                ELSE 'inactive' END AS status
    FROM patient_pipeline.backfill_plan_persons pp
    LEFT JOIN agg a ON a.person_key = pp.person_key
    LEFT JOIN patient_pipeline.backfill_plan_users u ON u.user_id = pp.user_id
    WHERE pp.disposition = 'create'
)
UPDATE patient_pipeline.backfill_plan_persons pp
SET first_name = at.first_name,
    last_name = at.last_name,
    email = at.email,
    phone = patient_pipeline.bf_e164(at.phone_raw),
    phone_unparseable = at.phone_raw IS NOT NULL AND patient_pipeline.bf_e164(at.phone_raw) IS NULL,
    date_of_birth = at.date_of_birth,
    clinician_id = at.clinician_id,
    status = at.status,
    disposition = CASE WHEN at.first_name IS NULL OR at.last_name IS NULL
                         OR patient_pipeline.key_form(at.first_name) IS DISTINCT FROM pp.name_key
                       THEN 'quarantine' ELSE 'create' END
FROM attrs at
WHERE pp.person_key = at.person_key
