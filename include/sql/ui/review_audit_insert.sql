-- One row of the review page's audit (who, which item, which patient ids, which decision and outcome).
-- Never a value. Reads: nothing. Writes: patient_pipeline.review_audit.
INSERT INTO patient_pipeline.review_audit (actor, event, item_id, patient_ids, action, outcome, reason_code,
                                           action_id)
VALUES (:actor, :event, :item_id, CAST(:patient_ids AS text[]), :action, :outcome, :reason_code, :action_id)
