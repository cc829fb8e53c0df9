-- Merge step 3: the merged patient becomes 'archived'; the identifiers and the user link that move to
-- the survivor are taken off it first (external id and e-mail key and user_id are unique), so step 4
-- can give them to the survivor. Its pointer to the survivor is patient_pipeline.patient_merged_into.
-- Reads: steward_merge. Writes: patients (one row).
UPDATE patients m
   SET status = 'archived',
       external_id = CASE WHEN 'external_id' = ANY(sm.filled_fields) THEN NULL ELSE m.external_id END,
       email = CASE WHEN 'email' = ANY(sm.filled_fields) THEN NULL ELSE m.email END,
       user_id = CASE WHEN sm.moved_user_id IS NOT NULL THEN NULL ELSE m.user_id END,
       updated_at = now() AT TIME ZONE 'utc'
  FROM patient_pipeline.steward_merge sm
 WHERE sm.action_id = :action_id AND m.id = sm.merged_id
