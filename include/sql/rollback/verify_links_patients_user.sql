-- Verify the archive, links: count and checksum of patients.user_id live vs this run's archived 'user'
-- links, and how many live links the archive lacks (with up to 10 entity ids, no PHI).
-- Reads: patients, patient_pipeline.archived_patient_links. Writes: nothing. Safe to re-run: read-only.
WITH live AS (
    SELECT t.user_id AS entity_id, t.id AS patient_id FROM patients t WHERE t.user_id IS NOT NULL
), archived AS (
    SELECT entity_id, patient_id FROM patient_pipeline.archived_patient_links
    WHERE run_id = CAST(:run_id AS varchar) AND entity = 'user'
), missing AS (
    SELECT l.entity_id FROM live l
    WHERE NOT EXISTS (SELECT 1 FROM archived a WHERE a.entity_id = l.entity_id AND a.patient_id = l.patient_id)
)
SELECT (SELECT count(*) FROM live) AS live_rows,
       (SELECT coalesce(sum(CAST(CAST(CAST('x' || substr(md5(entity_id || chr(31) || patient_id), 1, 15) AS bit(60))
                                      AS bigint) AS numeric)), 0) FROM live)::text AS live_checksum,
       (SELECT count(*) FROM archived) AS archived_rows,
       (SELECT coalesce(sum(CAST(CAST(CAST('x' || substr(md5(entity_id || chr(31) || patient_id), 1, 15) AS bit(60))
                                      AS bigint) AS numeric)), 0) FROM archived)::text AS archived_checksum,
       (SELECT count(*) FROM missing) AS missing,
       ARRAY(SELECT entity_id FROM missing ORDER BY entity_id LIMIT 10) AS sample_ids
