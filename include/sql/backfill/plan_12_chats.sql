-- Produces backfill_plan_chats: every chat session still unlinked whose user has a patient already or
-- will get one from this plan (rule 1).
-- walk_key (the session's heap block at plan time, then its id) orders link_chat_sessions' walk in heap order.
-- Reads: chat_sessions, patients, backfill_plan_users. Writes: the plan table only.
-- Safe to re-run: the plan tables are truncated first; linked sessions are skipped.
INSERT INTO patient_pipeline.backfill_plan_chats (chat_id, user_id, walk_key)
SELECT cs.id, cs.user_id, patient_pipeline.bf_walk_key(cs.ctid, cs.id)
FROM chat_sessions cs
WHERE cs.patient_id IS NULL
  AND (cs.user_id IN (SELECT user_id FROM patient_pipeline.backfill_plan_users
                      WHERE disposition = 'link' AND person_key IS NOT NULL)
       OR EXISTS (SELECT 1 FROM patients p WHERE p.user_id = cs.user_id))
-- in heap order (the scan's own): the walk-key index grows at its right edge
ORDER BY cs.ctid
