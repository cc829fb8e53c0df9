-- Merge: the merged patient's identifiers per namespace (patient_identifier) move to the survivor, each
-- recorded in steward_identifier_move so unmerge gives back exactly these (docs/contracts/identity.md §1b). Run right
-- after merge_02_move_links, in the merge's transaction.
-- Reads: steward_merge, patient_identifier. Writes: patient_identifier.patient_id, steward_identifier_move.
-- Safe to re-run for one action: only identifiers still at the merged patient move.
WITH sm AS (
    SELECT * FROM patient_pipeline.steward_merge WHERE action_id = :action_id
), rec AS (
    INSERT INTO patient_pipeline.steward_identifier_move (action_id, account_id, namespace, value,
                                                          from_patient_id, to_patient_id)
    SELECT sm.action_id, i.account_id, i.namespace, i.value, sm.merged_id, sm.survivor_id
    FROM sm JOIN patient_pipeline.patient_identifier i ON i.patient_id = sm.merged_id
    ON CONFLICT DO NOTHING
    RETURNING account_id, namespace, value, to_patient_id, from_patient_id
), mv AS (
    UPDATE patient_pipeline.patient_identifier i SET patient_id = rec.to_patient_id
    FROM rec
    WHERE i.account_id = rec.account_id AND i.namespace = rec.namespace AND i.value = rec.value
      AND i.patient_id = rec.from_patient_id
    RETURNING 1
)
SELECT count(*) AS moved FROM mv
