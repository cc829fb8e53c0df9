-- Adds the patients that already exist (written by the application meanwhile, by an import, or by an
-- earlier run) to backfill_plan_persons for every e-mail key the plan touches (rule 8: matched, never
-- duplicated). They are candidates for nameless invites and for users, and a planned person whose
-- identity key they carry reuses their id. Their keys are computed in the key form (rule 3) from the
-- stored values, so patients an earlier version keyed with lower(btrim()) are matched too.
-- Several existing patients with one key (an earlier version split a person on noise: "anne@x.org" and
-- "anne@x.org" + NBSP): the plan matches one of them (the one with a user, then the oldest (created_at,
-- id)) and lists each other one in the review queue (entity 'patient', reason
-- patients_share_identity_key, patient_id = the one matched); nothing is merged automatically.
-- Reads: patients, invites (accepted status of their linked invites), plan tables.
-- Writes: backfill_plan_persons, patient_pipeline.backfill_review_queue (ids and reason codes only).
-- Safe to re-run: the plan is rebuilt per run; the review rows are ON CONFLICT DO NOTHING.
WITH existing AS MATERIALIZED (
    SELECT k.*, row_number() OVER (PARTITION BY k.person_key
                                   ORDER BY k.user_id IS NULL, k.created_at, k.id) AS rn
    FROM (
        SELECT patient_pipeline.bf_person_key(p.account_id, e.email_key, patient_pipeline.key_form(p.first_name))
                   AS person_key,
               p.id, p.account_id, p.user_id, p.created_at, e.email_key,
               patient_pipeline.key_form(p.first_name) AS name_key
        FROM patients p
        CROSS JOIN LATERAL (SELECT patient_pipeline.email_key(p.email) AS email_key OFFSET 0) e
        WHERE p.email IS NOT NULL
          AND e.email_key IN (
              SELECT email_key FROM patient_pipeline.backfill_plan_invites WHERE disposition = 'link'
              UNION
              SELECT email_key FROM patient_pipeline.backfill_plan_users)
    ) k
), split AS (
    INSERT INTO patient_pipeline.backfill_review_queue (run_id, entity, entity_id, reason, patient_id)
    SELECT CAST(:run_id AS varchar), 'patient', d.id, 'patients_share_identity_key', m.id
    FROM existing d
    JOIN existing m ON m.person_key = d.person_key AND m.rn = 1
    WHERE d.rn > 1
    ON CONFLICT DO NOTHING
)
INSERT INTO patient_pipeline.backfill_plan_persons (
    person_key, account_id, email_key, name_key, source, existing_patient_id, existing_user_id,
    patient_id, has_accepted, disposition)
SELECT x.person_key,
       x.account_id,
       x.email_key,
       x.name_key,
       'existing',
       x.id,
       x.user_id,
       x.id,
       EXISTS (SELECT 1 FROM invites i
               WHERE i.patient_id = x.id AND patient_pipeline.key_form(i.status) IN ('accepted', 'completed')),
       'context'
FROM existing x
WHERE x.rn = 1
ON CONFLICT (person_key) DO NOTHING
