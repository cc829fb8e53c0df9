-- Chunk boundaries of one file's merge: the record number that starts every :chunk_rows-th row to merge
-- (inserted or matched) after :after_record. The merge commits one chunk at a time (include/imports/merge.py),
-- so no transaction of an import holds row locks or index entries for longer than one chunk.
-- Reads: import_decision. Writes: nothing.
SELECT record_no
FROM (
    SELECT d.record_no, row_number() OVER (ORDER BY d.record_no) AS rn
    FROM patient_pipeline.import_decision d
    WHERE d.file_id = :file_id AND d.disposition IN ('insert', 'match') AND d.record_no > :after_record
) x
WHERE mod(x.rn - 1, CAST(:chunk_rows AS bigint)) = 0
ORDER BY record_no
