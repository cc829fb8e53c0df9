-- Unmerge step 1: the invites and chat sessions the merge moved go back to the merged patient (those
-- still at the survivor; a link the application changed since is left and counted by the caller).
-- Reads: steward_merge. Writes: invites.patient_id, chat_sessions.patient_id.
WITH sm AS (
    SELECT * FROM patient_pipeline.steward_merge WHERE action_id = :merge_action_id
), i AS (
    UPDATE invites SET patient_id = sm.merged_id FROM sm
     WHERE invites.id = ANY(sm.moved_invite_ids) AND invites.patient_id = sm.survivor_id
    RETURNING 1
), c AS (
    UPDATE chat_sessions SET patient_id = sm.merged_id FROM sm
     WHERE chat_sessions.id = ANY(sm.moved_chat_session_ids) AND chat_sessions.patient_id = sm.survivor_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM i) AS invites, (SELECT count(*) FROM c) AS chat_sessions
