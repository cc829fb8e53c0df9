-- Restore preview (dry runs): per pending archive, how many archived patients a restore would put back
-- (no archived invite link to an invite that still exists) and how many it leaves to the backfill.
-- Reads: patient_pipeline.rollback_archives, archived_patients, archived_patient_links, invites.
-- Writes: nothing. Safe to re-run: read-only.
SELECT a.run_id,
       count(*) FILTER (WHERE NOT EXISTS (
           SELECT 1 FROM patient_pipeline.archived_patient_links l JOIN invites i ON i.id = l.entity_id
           WHERE l.entity = 'invite' AND l.patient_id = a.id)) AS to_restore,
       count(*) AS archived
FROM patient_pipeline.archived_patients a
JOIN patient_pipeline.rollback_archives h ON h.run_id = a.run_id AND h.status = 'verified'
GROUP BY a.run_id
ORDER BY a.run_id
