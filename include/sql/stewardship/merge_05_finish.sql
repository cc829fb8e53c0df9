-- Merge step 5: remember both rows' updated_at after the merge (unmerge refuses if either changed since,
-- so it can restore exactly).
-- Reads: patients. Writes: steward_merge (one row).
UPDATE patient_pipeline.steward_merge sm
   SET survivor_after_updated_at = s.updated_at, merged_after_updated_at = m.updated_at
  FROM patients s, patients m
 WHERE sm.action_id = :action_id AND s.id = sm.survivor_id AND m.id = sm.merged_id
