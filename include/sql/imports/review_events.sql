-- Review queue for feed events that are reported, never applied automatically (HL7 A40 merge,
-- FHIR Patient replaced-by link). The row itself is handled like any other row.
-- Reads: import_decision. Writes: import_review. Safe to re-run: ON CONFLICT DO NOTHING.
-- A pair a steward kept separate (the row's patient and 'ref:<event>:<detail>') is not queued again.
INSERT INTO patient_pipeline.import_review (file_id, record_no, kind, patient_id, detail)
SELECT d.file_id, d.record_no, d.event, d.patient_id, d.event_detail
FROM patient_pipeline.import_decision d
WHERE d.file_id = :file_id AND d.event IS NOT NULL AND d.record_no >= :from_record
  AND NOT patient_pipeline.steward_kept_apart(
      patient_pipeline.steward_patient_keys(:account_id, d.patient_id, d.external_id, d.email, d.first_name),
      ARRAY['ref:' || d.event || ':' || coalesce(d.event_detail, '')])
ON CONFLICT DO NOTHING
