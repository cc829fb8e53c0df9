-- Counts of the plan just built (PlanSummary; ids are listed by the quarantine/review tables).
-- Reads: plan tables only. Writes: nothing.
SELECT
    (SELECT count(*) FROM patient_pipeline.backfill_plan_persons WHERE source <> 'existing') AS persons,
    (SELECT count(*) FROM patient_pipeline.backfill_plan_persons WHERE disposition = 'create') AS patients_to_create,
    (SELECT count(*) FROM patient_pipeline.backfill_plan_persons
      WHERE disposition = 'matched' OR (disposition = 'context' AND user_id IS NOT NULL)) AS patients_matched,
    (SELECT count(*) FROM patient_pipeline.backfill_plan_invites WHERE disposition = 'link') AS invites_to_link,
    (SELECT count(*) FROM patient_pipeline.backfill_plan_users WHERE disposition = 'link') AS users_to_link,
    (SELECT count(*) FROM patient_pipeline.backfill_plan_chats) AS chats_to_link,
    (SELECT count(*) FROM patient_pipeline.backfill_plan_invites WHERE account_id IS NULL) AS unresolved_account_invites,
    (SELECT count(*) FROM patient_pipeline.backfill_plan_persons
      WHERE disposition = 'create' AND phone_unparseable) AS unparseable_phones,
    (SELECT count(*) FROM patient_pipeline.backfill_plan_invites) AS plan_invites,
    (SELECT count(*) FROM patient_pipeline.backfill_plan_persons) AS plan_persons,
    (SELECT count(*) FROM patient_pipeline.backfill_plan_users) AS plan_users,
    (SELECT count(*) FROM patient_pipeline.backfill_plan_chats) AS plan_chats
