-- Empties the plan's working tables (patient_pipeline.backfill_plan_*) before a new plan is built.
-- Reads: nothing. Writes: only the UNLOGGED plan tables of the pipeline schema.
-- Safe to re-run: a plan is always rebuilt from the live tables; nothing durable lives here.
TRUNCATE patient_pipeline.backfill_plan_invites, patient_pipeline.backfill_plan_users,
         patient_pipeline.backfill_plan_persons, patient_pipeline.backfill_plan_chats
