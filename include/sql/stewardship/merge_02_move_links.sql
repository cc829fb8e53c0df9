-- Merge step 2: the merged patient's invites and chat sessions point at the survivor (link columns only;
-- no other legacy column changes). Exactly the rows recorded in step 1.
-- Reads: steward_merge. Writes: invites.patient_id, chat_sessions.patient_id.
WITH sm AS (
    SELECT * FROM patient_pipeline.steward_merge WHERE action_id = :action_id
), i AS (
    UPDATE invites SET patient_id = sm.survivor_id FROM sm
     WHERE invites.id = ANY(sm.moved_invite_ids) AND invites.patient_id = sm.merged_id
    RETURNING 1
), c AS (
    UPDATE chat_sessions SET patient_id = sm.survivor_id FROM sm
     WHERE chat_sessions.id = ANY(sm.moved_chat_session_ids) AND chat_sessions.patient_id = sm.merged_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM i) AS invites, (SELECT count(*) FROM c) AS chat_sessions
