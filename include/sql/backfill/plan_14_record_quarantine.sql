-- Records the quarantined invites and users of this plan (ids and reason codes only, rule 7).
-- Reads: plan tables. Writes: patient_pipeline.backfill_quarantine.
-- Safe to re-run: ON CONFLICT keeps one row per (run, entity, id).
INSERT INTO patient_pipeline.backfill_quarantine (run_id, entity, entity_id, reason)
SELECT CAST(:run_id AS varchar), 'invite', invite_id, reason
FROM patient_pipeline.backfill_plan_invites WHERE disposition = 'quarantine'
UNION ALL
SELECT CAST(:run_id AS varchar), 'user', user_id, reason
FROM patient_pipeline.backfill_plan_users WHERE disposition = 'quarantine'
ON CONFLICT (run_id, entity, entity_id) DO UPDATE SET reason = EXCLUDED.reason
