-- Undo exactly what one backfill run wrote (auto-rollback): the links it recorded and the patients it
-- created. Reads: the run's link ledger (view over its batch rows). Writes: chat_sessions.patient_id,
-- invites.patient_id, patients.user_id (back to NULL, only where they still hold the ledger's value),
-- deletes the run's created patients that nothing references any more, then the run's ledger rows.
-- Safe to re-run: a second run finds no ledger rows and changes nothing.
WITH links AS (
    SELECT entity, entity_id, patient_id FROM patient_pipeline.backfill_link_ledger WHERE run_id = :run_id
), chats AS (
    UPDATE chat_sessions c SET patient_id = NULL
    FROM links l WHERE l.entity = 'chat_session' AND c.id = l.entity_id AND c.patient_id = l.patient_id
    RETURNING c.id
), invites_undone AS (
    UPDATE invites i SET patient_id = NULL
    FROM links l WHERE l.entity = 'invite' AND i.id = l.entity_id AND i.patient_id = l.patient_id
    RETURNING i.id
), users_undone AS (
    UPDATE patients p SET user_id = NULL
    FROM links l WHERE l.entity = 'user' AND p.user_id = l.entity_id AND p.id = l.patient_id
    RETURNING p.id
)
SELECT (SELECT count(*) FROM chats) AS chat_sessions_unlinked,
       (SELECT count(*) FROM invites_undone) AS invites_unlinked,
       (SELECT count(*) FROM users_undone) AS users_unlinked
