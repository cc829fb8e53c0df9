-- The record numbers of one file's rows to insert or update within :lo..:hi (the merge narrows a chunk
-- that collides with another patient's identity key down to its row).
-- Reads: import_decision. Writes: nothing.
SELECT d.record_no
FROM patient_pipeline.import_decision d
WHERE d.file_id = :file_id AND d.disposition IN ('insert', 'match') AND d.record_no BETWEEN :lo AND :hi
ORDER BY d.record_no
