-- Undo of one import file, step 1: decide per patient what happens, and keep each row as it is now.
--   updated by the file  -> 'restored' when nothing changed the patient since (its updated_at is still the
--                           file's merge time), else 'kept_changed' (listed, left alone);
--   created by the file  -> 'removed' when nothing links to it yet (no invite, user, chat session, later
--                           import change or review item, merge) and nothing changed it since; else
--                           'kept_linked' / 'kept_changed' (listed, left alone).
-- Reads: import_change_log, import_insert_log, patients, invites, chat_sessions, import_review,
-- steward_merge. Writes: steward_undo_patient (rows of :action_id). PHI stays in the pipeline schema.
INSERT INTO patient_pipeline.steward_undo_patient (action_id, file_id, patient_id, disposition, row_before)
SELECT :action_id, :file_id, c.patient_id,
       CASE WHEN p.id IS NOT NULL AND p.updated_at = c.changed_at THEN 'restored' ELSE 'kept_changed' END,
       to_jsonb(p)
FROM patient_pipeline.import_change_log c
LEFT JOIN patients p ON p.id = c.patient_id
WHERE c.file_id = :file_id AND c.change_kind = 'update'
UNION ALL
SELECT :action_id, :file_id, u.patient_id,
       CASE
           WHEN p.user_id IS NOT NULL
                OR EXISTS (SELECT 1 FROM invites i WHERE i.patient_id = p.id)
                OR EXISTS (SELECT 1 FROM chat_sessions cs WHERE cs.patient_id = p.id)
                OR EXISTS (SELECT 1 FROM patient_pipeline.import_change_log l
                           WHERE l.patient_id = p.id AND l.file_id <> :file_id)
                OR EXISTS (SELECT 1 FROM patient_pipeline.import_review r
                           WHERE r.file_id <> :file_id AND (r.patient_id = p.id OR r.candidate_patient_id = p.id))
                OR EXISTS (SELECT 1 FROM patient_pipeline.steward_merge sm
                           WHERE sm.unmerged_at IS NULL AND (sm.survivor_id = p.id OR sm.merged_id = p.id))
                THEN 'kept_linked'
           WHEN p.updated_at <> b.changed_at OR p.status <> 'pending' THEN 'kept_changed'
           ELSE 'removed'
       END,
       to_jsonb(p)
FROM patient_pipeline.import_insert_log b
CROSS JOIN LATERAL unnest(b.patient_ids) AS u (patient_id)
JOIN patients p ON p.id = u.patient_id
WHERE b.file_id = :file_id
RETURNING disposition
