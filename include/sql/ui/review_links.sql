-- What the patients of one review item are linked to: invites, chat sessions (with their message count),
-- the identifiers per namespace, and the import files / records that created, changed or queued them.
-- One row per link: (patient_id, link, id, detail, at). Reads: invites, chat_sessions, chat_messages,
-- patient_pipeline.patient_identifier, import_insert_log, import_change_log, import_review, import_file.
-- Writes: nothing.
SELECT i.patient_id, 'invite' AS link, i.id AS ref, coalesce(i.status, '') AS detail, i.created_at AS at
FROM invites i WHERE i.patient_id = ANY(CAST(:ids AS text[]))
UNION ALL
SELECT c.patient_id, 'chat_session', c.id,
       coalesce(c.status, '') || ' (' || (SELECT count(*) FROM chat_messages m WHERE m.session_id = c.id) || ' messages)',
       c.created_at
FROM chat_sessions c WHERE c.patient_id = ANY(CAST(:ids AS text[]))
UNION ALL
SELECT x.patient_id, 'identifier', x.namespace, x.value || ' (' || x.origin || ')', x.created_at
FROM patient_pipeline.patient_identifier x WHERE x.patient_id = ANY(CAST(:ids AS text[]))
UNION ALL
SELECT pid, 'import_created', 'file ' || f.file_id, f.source_id || ' / ' || f.file_name || ' (' || f.status || ')',
       l.changed_at
FROM patient_pipeline.import_insert_log l
CROSS JOIN LATERAL unnest(l.patient_ids) AS pid
JOIN patient_pipeline.import_file f ON f.file_id = l.file_id
WHERE l.patient_ids && CAST(:ids AS text[]) AND pid = ANY(CAST(:ids AS text[]))
UNION ALL
SELECT l.patient_id, 'import_' || l.change_kind, 'file ' || f.file_id,
       f.source_id || ' / ' || f.file_name || ': ' || array_to_string(l.changed_fields, ', '), l.changed_at
FROM patient_pipeline.import_change_log l
JOIN patient_pipeline.import_file f ON f.file_id = l.file_id
WHERE l.patient_id = ANY(CAST(:ids AS text[]))
UNION ALL
SELECT r.patient_id, 'import_record', 'file ' || f.file_id || ' record ' || r.record_no,
       f.source_id || ' / ' || f.file_name || ' (review ' || r.kind || ')', r.created_at
FROM patient_pipeline.import_review r
JOIN patient_pipeline.import_file f ON f.file_id = r.file_id
WHERE r.patient_id = ANY(CAST(:ids AS text[]))
ORDER BY 1, 5, 2, 3
