-- Merge step 4: the survivor's empty fields recorded in step 1 are filled from the merged patient's
-- values as they were; the user link moves when the survivor had none. A survivor with nothing to fill
-- is not touched at all (its updated_at stays).
-- Reads: steward_merge. Writes: patients (one row); then steward_merge's after-timestamps.
WITH sm AS (
    SELECT * FROM patient_pipeline.steward_merge WHERE action_id = :action_id
), filled AS (
    UPDATE patients s
       SET external_id = CASE WHEN 'external_id' = ANY(sm.filled_fields) THEN sm.merged_before ->> 'external_id'
                              ELSE s.external_id END,
           email = CASE WHEN 'email' = ANY(sm.filled_fields) THEN sm.merged_before ->> 'email' ELSE s.email END,
           phone = CASE WHEN 'phone' = ANY(sm.filled_fields) THEN sm.merged_before ->> 'phone' ELSE s.phone END,
           date_of_birth = CASE WHEN 'date_of_birth' = ANY(sm.filled_fields)
                                THEN CAST(sm.merged_before ->> 'date_of_birth' AS date) ELSE s.date_of_birth END,
           clinician_id = CASE WHEN 'clinician_id' = ANY(sm.filled_fields) THEN sm.merged_before ->> 'clinician_id'
                               ELSE s.clinician_id END,
           notes = CASE WHEN 'notes' = ANY(sm.filled_fields) THEN sm.merged_before ->> 'notes' ELSE s.notes END,
           user_id = coalesce(s.user_id, sm.moved_user_id),
           updated_at = now() AT TIME ZONE 'utc'
      FROM sm
     WHERE s.id = sm.survivor_id AND (cardinality(sm.filled_fields) > 0 OR sm.moved_user_id IS NOT NULL)
    RETURNING s.id
)
SELECT (SELECT count(*) FROM filled) AS survivor_updated
