-- Records the decisions a person should review: nameless invites that joined the most recent of
-- several persons (nameless_invite_multiple_persons) and users left unlinked because their identity
-- is taken (user_identity_taken). Ids and reason codes only.
-- Reads: plan tables. Writes: patient_pipeline.backfill_review_queue.
-- Safe to re-run: ON CONFLICT DO NOTHING; entries stay after the invite is linked.
-- A pair a steward kept separate ('invite:<id>' or 'user:<id>' and 'id:<patient>' or 'none') is not queued.
INSERT INTO patient_pipeline.backfill_review_queue (run_id, entity, entity_id, reason, patient_id)
SELECT CAST(:run_id AS varchar), 'invite', pi.invite_id, pi.review_reason, pp.patient_id
FROM patient_pipeline.backfill_plan_invites pi
JOIN patient_pipeline.backfill_plan_persons pp ON pp.person_key = pi.person_key
WHERE pi.review_reason IS NOT NULL AND pi.disposition = 'link'
  AND NOT patient_pipeline.steward_kept_apart(ARRAY['invite:' || pi.invite_id], ARRAY['id:' || pp.patient_id])
UNION ALL
SELECT CAST(:run_id AS varchar), 'user', user_id, reason, NULL
FROM patient_pipeline.backfill_plan_users WHERE disposition = 'review'
  AND NOT patient_pipeline.steward_kept_apart(ARRAY['user:' || user_id], ARRAY['none'])
ON CONFLICT DO NOTHING
