-- Gate: every chat session of a patient user points at that user's patient (rule 1).
-- Reads: chat_sessions, users, patients. Writes: nothing.
SELECT count(*) AS violations, (array_agg(cs.id ORDER BY cs.id))[1:50] AS sample_ids
FROM chat_sessions cs
JOIN users u ON u.id = cs.user_id AND patient_pipeline.key_form(u.role) = 'patient'
LEFT JOIN patients p ON p.user_id = u.id
WHERE cs.patient_id IS NULL OR p.id IS NULL OR cs.patient_id <> p.id
