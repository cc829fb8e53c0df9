-- Resolves invites that still have no name (rule 3): they join the only person of their
-- (account, e-mail key) group; with several persons, the one whose latest invite (created_at, id) is
-- the most recent, and the invite is flagged for the review queue (nameless_invite_multiple_persons).
-- Candidates are the named planned invites' persons and existing patients of the group. With no
-- candidate the invite stays unresolved and plan_10 quarantines it (missing_name).
-- Reads: backfill_plan_invites, backfill_plan_persons, invites (latest linked invite of an existing
-- patient). Writes: backfill_plan_invites only.
-- Safe to re-run: the plan is rebuilt per run; nothing outside the plan is written.
WITH nameless AS (
    SELECT invite_id, account_id, email_key
    FROM patient_pipeline.backfill_plan_invites
    WHERE person_key IS NULL AND disposition = 'link'
), grp AS (
    SELECT DISTINCT account_id, email_key FROM nameless
), planned AS (
    SELECT DISTINCT ON (pi.person_key) pi.person_key, pi.account_id, pi.email_key, pi.name_key,
           pi.created_at, pi.invite_id::text AS latest_id
    FROM patient_pipeline.backfill_plan_invites pi
    JOIN grp g ON g.email_key = pi.email_key AND g.account_id IS NOT DISTINCT FROM pi.account_id
    WHERE pi.person_key IS NOT NULL AND pi.disposition = 'link'
    ORDER BY pi.person_key, pi.created_at DESC, pi.invite_id DESC
), existing AS (
    SELECT pp.person_key, pp.account_id, pp.email_key, pp.name_key, r.created_at, r.latest_id
    FROM patient_pipeline.backfill_plan_persons pp
    JOIN grp g ON g.email_key = pp.email_key AND g.account_id IS NOT DISTINCT FROM pp.account_id
    LEFT JOIN LATERAL (
        SELECT i.created_at, i.id::text AS latest_id FROM invites i
        WHERE i.patient_id = pp.existing_patient_id
        ORDER BY i.created_at DESC, i.id DESC LIMIT 1
    ) r ON true
    WHERE pp.existing_patient_id IS NOT NULL
), cand AS (
    -- a person both planned and existing: keep its most recent invite
    SELECT DISTINCT ON (person_key) *
    FROM (SELECT * FROM planned UNION ALL SELECT * FROM existing) x
    ORDER BY person_key, created_at DESC NULLS LAST, latest_id DESC NULLS LAST
), choice AS (
    SELECT DISTINCT ON (account_id, email_key) account_id, email_key, person_key, name_key,
           count(*) OVER (PARTITION BY account_id, email_key) AS persons
    FROM cand
    ORDER BY account_id, email_key, created_at DESC NULLS LAST, latest_id DESC NULLS LAST
)
UPDATE patient_pipeline.backfill_plan_invites pi
SET person_key = ch.person_key,
    name_key = ch.name_key,
    review_reason = CASE WHEN ch.persons > 1 THEN 'nameless_invite_multiple_persons' END
FROM nameless n
JOIN choice ch ON ch.email_key = n.email_key AND ch.account_id IS NOT DISTINCT FROM n.account_id
WHERE pi.invite_id = n.invite_id
