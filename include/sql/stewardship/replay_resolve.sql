-- After a replay file was imported: record which new record carries which original row (records are
-- written in original record order, so the n-th replayed row is record n of the new file), and resolve
-- the original quarantine rows ('replayed') with a pointer to the new file and record.
-- Reads: the arguments. Writes: steward_replay_record, import_quarantine.
-- Safe to re-run: the mapping's primary key is (new file, new record); resolved rows are left alone.
WITH k AS (
    SELECT o.orig_record_no, o.n AS new_record_no
    FROM unnest(CAST(:orig_record_nos AS integer[])) WITH ORDINALITY AS o (orig_record_no, n)
), m AS (
    INSERT INTO patient_pipeline.steward_replay_record (action_id, new_file_id, new_record_no, orig_file_id,
                                                        orig_record_no)
    SELECT :action_id, :new_file_id, k.new_record_no, :orig_file_id, k.orig_record_no FROM k
    ON CONFLICT DO NOTHING
    RETURNING 1
)
UPDATE patient_pipeline.import_quarantine q
   SET resolved_at = now() AT TIME ZONE 'utc', resolution = 'replayed', resolved_by = :action_id,
       resolved_file_id = :new_file_id, resolved_record_no = k.new_record_no
  FROM k
 WHERE q.file_id = :orig_file_id AND q.record_no = k.orig_record_no AND q.resolved_at IS NULL
