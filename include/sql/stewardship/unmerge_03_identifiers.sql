-- Unmerge: the identifiers the merge moved (steward_identifier_move) go back to the merged patient, those
-- still at the survivor (one that an import or the API re-pointed since is left as it is).
-- Reads: steward_identifier_move. Writes: patient_identifier.patient_id.
-- Safe to re-run: an identifier already back is not matched again.
WITH mv AS (
    UPDATE patient_pipeline.patient_identifier i SET patient_id = m.from_patient_id
    FROM patient_pipeline.steward_identifier_move m
    WHERE m.action_id = :merge_action_id
      AND i.account_id = m.account_id AND i.namespace = m.namespace AND i.value = m.value
      AND i.patient_id = m.to_patient_id
    RETURNING 1
)
SELECT count(*) AS moved FROM mv
