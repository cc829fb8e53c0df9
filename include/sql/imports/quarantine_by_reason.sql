-- Quarantined rows of one file per reason code (for reports). Reads: import_quarantine. Writes: nothing.
SELECT reason_code, count(*) AS n FROM patient_pipeline.import_quarantine
WHERE file_id = :file_id GROUP BY reason_code ORDER BY reason_code
