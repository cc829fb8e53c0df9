-- The patients of one review item (the caller passes the item's own ids only), with their user link and
-- whether they were merged into another patient. Values: shown on the steward's review page only.
-- Reads: patients, users, patient_pipeline.patient_merged_into. Writes: nothing.
SELECT p.id, p.account_id, p.external_id, p.first_name, p.last_name, p.date_of_birth, p.email, p.phone,
       p.status, p.clinician_id, p.user_id, p.notes, p.created_at, p.updated_at,
       u.role AS user_role, u.is_active AS user_active,
       (SELECT mi.survivor_id FROM patient_pipeline.patient_merged_into mi WHERE mi.patient_id = p.id) AS merged_into
FROM patients p
LEFT JOIN users u ON u.id = p.user_id
WHERE p.id = ANY(CAST(:ids AS text[]))
