-- Earlier stewardship decisions on either patient of one item: actions naming them (merge, unmerge,
-- keep_separate by patients) or resolving a review item of theirs. Ids, reason codes, actors only.
-- Reads: patient_pipeline.steward_action, patient_pipeline.review_queue. Writes: nothing.
SELECT a.action_id, a.action, a.status, a.reason_code, a.actor, a.origin, a.dry_run, a.created_at,
       a.undoes, a.undone_by
FROM patient_pipeline.steward_action a
WHERE a.params ->> 'survivor_id' = ANY(CAST(:ids AS text[]))
   OR a.params ->> 'merged_id' = ANY(CAST(:ids AS text[]))
   OR (jsonb_typeof(a.params -> 'patients') = 'array'
       AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(a.params -> 'patients') p
                   WHERE p = ANY(CAST(:ids AS text[]))))
   OR (jsonb_typeof(a.params -> 'items') = 'array' AND a.params -> 'items' ? CAST(:item_id AS text))
   OR a.action_id IN (SELECT q.resolved_by FROM patient_pipeline.review_queue q
                      WHERE q.resolved_by IS NOT NULL
                        AND (q.patient_id = ANY(CAST(:ids AS text[]))
                             OR q.candidate_patient_id = ANY(CAST(:ids AS text[]))))
ORDER BY a.action_id DESC
LIMIT 50
