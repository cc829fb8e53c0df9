-- Review queue for feed events that are reported, never applied automatically (HL7 A40 merge,
-- FHIR Patient replaced-by link). The row itself is handled like any other row.
-- Reads: import_decision. Writes: import_review. Safe to re-run: ON CONFLICT DO NOTHING.
INSERT INTO patient_pipeline.import_review (file_id, record_no, kind, patient_id, detail)
SELECT d.file_id, d.record_no, d.event, d.patient_id, d.event_detail
FROM patient_pipeline.import_decision d
WHERE d.file_id = :file_id AND d.event IS NOT NULL
ON CONFLICT DO NOTHING
