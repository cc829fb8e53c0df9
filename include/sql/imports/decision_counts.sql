-- Rows of one file per disposition (quarantine, duplicate, match, insert). Reads: import_decision.
SELECT disposition, count(*) AS n FROM patient_pipeline.import_decision WHERE file_id = :file_id GROUP BY disposition
