-- Queue the scored pairs of one run (temp table identity_scored, loaded with COPY) as 'match:<pair_id>'
-- review items, in one statement. A pair is not queued when:
--   * it is open already (as a match item or as an import name + DOB item: one item per pair),
--   * a steward decided it (merged, kept separate, dismissed; as a match item, an import item or a
--     keep_separate by keys) and neither patient changed since the decision (patients.updated_at),
--   * the two patients are not both live patients of :account_id (never across accounts).
-- Reads: identity_scored, patients, match_pair, import_review, steward_kept_separate, steward_action.
-- Writes: patient_pipeline.match_pair. Safe to re-run: open pairs are skipped (ux_match_pair_open).
WITH s AS (
    SELECT s.patient_id, s.candidate_patient_id, s.match_probability, s.match_weight, s.evidence,
           greatest(p1.updated_at, p2.updated_at) AS changed_at,
           patient_pipeline.steward_patient_keys(p1.account_id, p1.id, p1.external_id, p1.email, p1.first_name) AS k1,
           patient_pipeline.steward_patient_keys(p2.account_id, p2.id, p2.external_id, p2.email, p2.first_name) AS k2
    FROM identity_scored s
    JOIN patients p1 ON p1.id = s.patient_id
    JOIN patients p2 ON p2.id = s.candidate_patient_id
    WHERE p1.account_id = :account_id AND p2.account_id = :account_id AND s.patient_id < s.candidate_patient_id
), c AS (
    SELECT s.*,
           EXISTS (SELECT 1 FROM patient_pipeline.match_pair m
                   WHERE m.patient_id = s.patient_id AND m.candidate_patient_id = s.candidate_patient_id
                     AND m.resolved_at IS NULL)
           OR EXISTS (SELECT 1 FROM patient_pipeline.import_review r
                      WHERE r.resolved_at IS NULL AND r.kind = 'name_dob_match'
                        AND ((r.patient_id = s.patient_id AND r.candidate_patient_id = s.candidate_patient_id)
                          OR (r.patient_id = s.candidate_patient_id AND r.candidate_patient_id = s.patient_id)))
               AS is_open,
           EXISTS (SELECT 1 FROM patient_pipeline.match_pair m
                   WHERE m.patient_id = s.patient_id AND m.candidate_patient_id = s.candidate_patient_id
                     AND m.resolved_at IS NOT NULL AND m.resolved_at >= s.changed_at)
           OR EXISTS (SELECT 1 FROM patient_pipeline.import_review r
                      WHERE r.resolved_at IS NOT NULL AND r.resolved_at >= s.changed_at
                        AND ((r.patient_id = s.patient_id AND r.candidate_patient_id = s.candidate_patient_id)
                          OR (r.patient_id = s.candidate_patient_id AND r.candidate_patient_id = s.patient_id)))
           OR EXISTS (SELECT 1 FROM patient_pipeline.steward_kept_separate k
                      JOIN patient_pipeline.steward_action a ON a.action_id = k.action_id
                      WHERE k.revoked_at IS NULL AND a.created_at >= s.changed_at
                        AND ((k.left_keys && s.k1 AND k.right_keys && s.k2)
                          OR (k.left_keys && s.k2 AND k.right_keys && s.k1)))
               AS is_decided
    FROM s
), ins AS (
    INSERT INTO patient_pipeline.match_pair (match_run_id, account_id, patient_id, candidate_patient_id,
                                             match_probability, match_weight, evidence)
    SELECT :match_run_id, :account_id, c.patient_id, c.candidate_patient_id, c.match_probability,
           c.match_weight, CAST(c.evidence AS jsonb)
    FROM c
    WHERE NOT c.is_open AND NOT c.is_decided
    ORDER BY c.match_probability DESC
    ON CONFLICT (patient_id, candidate_patient_id) WHERE resolved_at IS NULL DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM s) AS scored,
       (SELECT count(*) FROM c WHERE c.is_open) AS already_open,
       (SELECT count(*) FROM c WHERE c.is_decided AND NOT c.is_open) AS suppressed_decided,
       (SELECT count(*) FROM ins) AS queued
