-- The quarantine rows a corrections file names (by file id + record number), with their source and
-- whether they are still open. Reads: import_quarantine, import_file. Writes: nothing.
SELECT q.file_id, q.record_no, q.raw_values, q.resolved_at, f.source_id
FROM unnest(CAST(:file_ids AS bigint[]), CAST(:record_nos AS integer[])) AS k (file_id, record_no)
JOIN patient_pipeline.import_quarantine q ON q.file_id = k.file_id AND q.record_no = k.record_no
JOIN patient_pipeline.import_file f ON f.file_id = q.file_id
