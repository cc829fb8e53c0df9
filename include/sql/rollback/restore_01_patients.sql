-- Restore, patients: put back, with their ORIGINAL ids, the archived patients of archive :archive_run_id
-- that the backfill cannot derive from invites (no archived invite link, in any archive, to an invite
-- row that still exists: imported patients, patients the application created), and record the outcome
-- of every such patient in patient_pipeline.restored_patients:
--   restored         inserted now (or by an earlier attempt of this restore: kept as restored);
--   already_present  a patients row with that id is live (a partial rollback kept the table);
--   conflict         another live patient holds its (account, external id) or identity key: not inserted.
-- account_id / clinician_id that no longer exist are restored as NULL (the FKs are ON DELETE SET NULL,
-- so that is what the row would hold had it stayed). user_id is restored by restore_02_link_users.
-- Reads: patient_pipeline.archived_patients, archived_patient_links, invites, accounts, users, patients.
-- Writes: patients (inserts only), patient_pipeline.restored_patients.
-- Safe to re-run: ON CONFLICT DO NOTHING on every unique key of patients; the outcome row keeps
-- 'restored' once recorded (a later 'already_present' for the same id is the same patient).
WITH candidates AS (
    SELECT a.*
    FROM patient_pipeline.archived_patients a
    WHERE a.run_id = CAST(:archive_run_id AS varchar)
      AND NOT EXISTS (
          SELECT 1
          FROM patient_pipeline.archived_patient_links l
          JOIN invites i ON i.id = l.entity_id
          WHERE l.entity = 'invite' AND l.patient_id = a.id)
), inserted AS (
    INSERT INTO patients (id, account_id, clinician_id, external_id, email, first_name, last_name, phone,
                          date_of_birth, status, notes, created_at, updated_at)
    SELECT c.id,
           CASE WHEN EXISTS (SELECT 1 FROM accounts x WHERE x.id = c.account_id) THEN c.account_id END,
           CASE WHEN EXISTS (SELECT 1 FROM users u WHERE u.id = c.clinician_id) THEN c.clinician_id END,
           c.external_id, c.email, c.first_name, c.last_name, c.phone, c.date_of_birth, c.status, c.notes,
           c.created_at, c.updated_at
    FROM candidates c
    ORDER BY c.id
    ON CONFLICT DO NOTHING
    RETURNING id
), outcomes AS (
    SELECT c.id,
           CASE WHEN c.id IN (SELECT id FROM inserted) THEN 'restored'
                WHEN EXISTS (SELECT 1 FROM patients p WHERE p.id = c.id) THEN 'already_present'
                ELSE 'conflict' END AS outcome
    FROM candidates c
)
INSERT INTO patient_pipeline.restored_patients AS r (archive_run_id, patient_id, restore_run_id, outcome)
SELECT CAST(:archive_run_id AS varchar), o.id, CAST(:restore_run_id AS varchar), o.outcome FROM outcomes o
ON CONFLICT (archive_run_id, patient_id) DO UPDATE
SET outcome = EXCLUDED.outcome, restore_run_id = EXCLUDED.restore_run_id, recorded_at = now() AT TIME ZONE 'utc'
WHERE r.outcome = 'conflict' AND EXCLUDED.outcome <> 'conflict'
