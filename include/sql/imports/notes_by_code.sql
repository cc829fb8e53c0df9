-- Normalizer warning codes of one file's staged rows (e.g. dob_partial, excel_serial_date), for reports.
-- Reads: import_staging. Writes: nothing.
SELECT code, count(*) AS n
FROM patient_pipeline.import_staging, unnest(string_to_array(notes, ',')) AS code
WHERE file_id = :file_id AND notes IS NOT NULL AND notes <> ''
GROUP BY code ORDER BY code
