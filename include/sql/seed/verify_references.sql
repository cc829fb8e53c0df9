-- Seed load check: rows whose reference points nowhere, per reference (all counts must be 0).
-- Reads the six legacy tables, writes nothing, so it is safe to run any number of times.
-- Runs inside the seed's load transaction when the per-row FK triggers were skipped
-- (session_replication_role = replica): the declared FKs are proven here set-based, plus the
-- references production never declared (users.account_id, users.clinician_id, chat_sessions.clinician_id).
SELECT 'patient_profiles.user_id' AS reference, count(*) AS orphans
  FROM patient_profiles p WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p.user_id)
UNION ALL
SELECT 'invites.clinician_id', count(*)
  FROM invites i WHERE i.clinician_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = i.clinician_id)
UNION ALL
SELECT 'invites.user_id', count(*)
  FROM invites i WHERE i.user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = i.user_id)
UNION ALL
SELECT 'chat_sessions.user_id', count(*)
  FROM chat_sessions s WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id)
UNION ALL
SELECT 'chat_sessions.clinician_id', count(*)
  FROM chat_sessions s WHERE s.clinician_id IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.clinician_id)
UNION ALL
SELECT 'chat_messages.session_id', count(*)
  FROM chat_messages m WHERE NOT EXISTS (SELECT 1 FROM chat_sessions s WHERE s.id = m.session_id)
UNION ALL
SELECT 'users.account_id', count(*)
  FROM users u WHERE u.account_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = u.account_id)
UNION ALL
SELECT 'users.clinician_id', count(*)
  FROM users u WHERE u.clinician_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users c WHERE c.id = u.clinician_id)
