-- Merge step 1: record the merge before anything changes: both patient rows exactly as they are (PHI
-- stays in the pipeline schema), which empty survivor fields the merged patient fills (never one that
-- has a value; e-mail only when no third patient holds the same identity key with the survivor's first
-- name), and which invites, chat sessions and user link will move.
-- Reads: patients, invites, chat_sessions. Writes: steward_merge (one row, keyed by the action).
-- Safe to re-run: the action id is the primary key; the caller's transaction holds the pair FOR UPDATE.
INSERT INTO patient_pipeline.steward_merge (action_id, survivor_id, merged_id, survivor_before, merged_before,
                                            filled_fields, moved_invite_ids, moved_chat_session_ids, moved_user_id)
SELECT :action_id, s.id, m.id, to_jsonb(s), to_jsonb(m),
       array_remove(ARRAY[
           CASE WHEN s.external_id IS NULL AND m.external_id IS NOT NULL THEN 'external_id' END,
           CASE WHEN s.email IS NULL AND m.email IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM patients o
                    WHERE o.id <> s.id AND o.id <> m.id AND o.email IS NOT NULL
                      AND o.account_id IS NOT DISTINCT FROM s.account_id
                      AND patient_pipeline.email_key(o.email) = patient_pipeline.email_key(m.email)
                      AND patient_pipeline.key_form(o.first_name) = patient_pipeline.key_form(s.first_name))
                THEN 'email' END,
           CASE WHEN s.phone IS NULL AND m.phone IS NOT NULL THEN 'phone' END,
           CASE WHEN s.date_of_birth IS NULL AND m.date_of_birth IS NOT NULL THEN 'date_of_birth' END,
           CASE WHEN s.clinician_id IS NULL AND m.clinician_id IS NOT NULL THEN 'clinician_id' END,
           CASE WHEN s.notes IS NULL AND m.notes IS NOT NULL THEN 'notes' END
       ], NULL),
       coalesce((SELECT array_agg(i.id ORDER BY i.id) FROM invites i WHERE i.patient_id = m.id), '{}'),
       coalesce((SELECT array_agg(c.id ORDER BY c.id) FROM chat_sessions c WHERE c.patient_id = m.id), '{}'),
       CASE WHEN s.user_id IS NULL THEN m.user_id END
FROM patients s
JOIN patients m ON m.id = :merged_id
WHERE s.id = :survivor_id
RETURNING filled_fields, cardinality(moved_invite_ids) AS invites, cardinality(moved_chat_session_ids) AS chats,
          moved_user_id IS NOT NULL AS user_moved
