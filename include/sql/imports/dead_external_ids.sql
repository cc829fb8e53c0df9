-- External ids of one file's duplicates (superseded messages) that reported a death: a later message of the
-- same person that omits the death never makes the person invitable (merge_update.sql, merge_insert.sql).
-- Read once per merge (and after a re-decision) and passed to every chunk as an array.
-- Reads: import_decision. Writes: nothing.
SELECT DISTINCT d.external_id
FROM patient_pipeline.import_decision d
WHERE d.file_id = :file_id AND d.disposition = 'duplicate' AND d.deceased AND d.external_id IS NOT NULL
