-- The two patients of a merge request, ids and states only (what decides a refusal in Python).
-- Reads: patients, patient_merged_into. Writes: nothing. FOR UPDATE: the pair cannot change until commit.
SELECT p.id, p.account_id, p.user_id, p.status, p.updated_at,
       (SELECT mi.survivor_id FROM patient_pipeline.patient_merged_into mi WHERE mi.patient_id = p.id) AS merged_into
FROM patients p
WHERE p.id IN (:survivor_id, :merged_id)
FOR UPDATE OF p
