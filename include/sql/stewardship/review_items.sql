-- The review items of both queues with the keys of their two sides (see steward_kept_separate):
-- 'import:<review_id>' items (name + DOB look-alikes: the row's patient and the candidate; HL7 A40 /
-- FHIR replaced-by: the row's patient and 'ref:<kind>:<detail>') and 'backfill:<entity>:<id>:<reason>'
-- items (one per entity and reason over every plan run: 'invite:<id>' / 'user:<id>' and the patient) and
-- 'match:<pair_id>' items (the matcher's probable duplicates: both patients).
-- :items NULL = every item; :open_only = only items not resolved yet. Ids only; no values leave the
-- database except the keys, which the caller stores back into steward_kept_separate.
-- Reads: import_review, import_file, backfill_review_queue, match_pair, patients. Writes: nothing.
SELECT x.item, x.queue, x.kind, x.file_id, x.account_id, x.patient_id, x.candidate_patient_id,
       x.resolved_at, x.resolution, x.left_keys, x.right_keys
FROM (
    SELECT 'import:' || r.review_id AS item, 'import' AS queue, r.kind, r.file_id, f.account_id,
           r.patient_id, r.candidate_patient_id, r.resolved_at, r.resolution,
           coalesce(patient_pipeline.steward_patient_keys(p1.account_id, p1.id, p1.external_id, p1.email,
                                                          p1.first_name),
                    ARRAY['id:' || r.patient_id]) AS left_keys,
           CASE WHEN r.kind = 'name_dob_match'
                THEN coalesce(patient_pipeline.steward_patient_keys(p2.account_id, p2.id, p2.external_id,
                                                                    p2.email, p2.first_name),
                              ARRAY['id:' || r.candidate_patient_id])
                ELSE ARRAY['ref:' || r.kind || ':' || coalesce(r.detail, '')] END AS right_keys
    FROM patient_pipeline.import_review r
    JOIN patient_pipeline.import_file f ON f.file_id = r.file_id
    LEFT JOIN patients p1 ON p1.id = r.patient_id
    LEFT JOIN patients p2 ON p2.id = r.candidate_patient_id
    UNION ALL
    SELECT 'backfill:' || q.entity || ':' || q.entity_id || ':' || q.reason, 'backfill', q.reason, NULL,
           NULL, max(q.patient_id), NULL,
           CASE WHEN bool_or(q.resolved_at IS NULL) THEN NULL ELSE max(q.resolved_at) END,
           CASE WHEN bool_or(q.resolved_at IS NULL) THEN NULL ELSE max(q.resolution) END,
           ARRAY[q.entity || ':' || q.entity_id],
           ARRAY[coalesce('id:' || max(q.patient_id), 'none')]
    FROM patient_pipeline.backfill_review_queue q
    GROUP BY q.entity, q.entity_id, q.reason
    UNION ALL
    SELECT 'match:' || m.pair_id, 'match', 'probable_duplicate', NULL, m.account_id, m.patient_id,
           m.candidate_patient_id, m.resolved_at, m.resolution,
           coalesce(patient_pipeline.steward_patient_keys(p1.account_id, p1.id, p1.external_id, p1.email,
                                                          p1.first_name),
                    ARRAY['id:' || m.patient_id]),
           coalesce(patient_pipeline.steward_patient_keys(p2.account_id, p2.id, p2.external_id, p2.email,
                                                          p2.first_name),
                    ARRAY['id:' || m.candidate_patient_id])
    FROM patient_pipeline.match_pair m
    LEFT JOIN patients p1 ON p1.id = m.patient_id
    LEFT JOIN patients p2 ON p2.id = m.candidate_patient_id
) x
WHERE (CAST(:items AS text[]) IS NULL OR x.item = ANY(CAST(:items AS text[])))
  AND (NOT CAST(:open_only AS boolean) OR x.resolved_at IS NULL)
ORDER BY x.queue, x.item
