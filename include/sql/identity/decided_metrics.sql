-- Steward decisions as labels (docs/contracts/identity.md §2): every decided pair item of :account_id (NULL: all
-- accounts), matcher items and import name + DOB items alike; merged = the same person, kept_separate =
-- different people (dismissed says nothing about identity and is left out). A pair counts as proposed at
-- :threshold when the matcher scored it at or above it. Counts only.
-- Reads: patient_pipeline.review_queue, patient_pipeline.match_pair. Writes: nothing. Safe to re-run.
WITH d AS (
    SELECT least(q.patient_id, q.candidate_patient_id) AS a, greatest(q.patient_id, q.candidate_patient_id) AS b,
           bool_or(q.status = 'merged') AS same_person
    FROM patient_pipeline.review_queue q
    WHERE q.status IN ('merged', 'kept_separate') AND q.candidate_patient_id IS NOT NULL
      AND q.kind IN ('probable_duplicate', 'name_dob_match')
      AND (CAST(:account_id AS text) IS NULL OR q.account_id = :account_id)
    GROUP BY 1, 2
), p AS (
    SELECT d.*, EXISTS (SELECT 1 FROM patient_pipeline.match_pair m
                        WHERE m.patient_id = d.a AND m.candidate_patient_id = d.b
                          AND m.match_probability >= :threshold) AS proposed
    FROM d
)
SELECT count(*) FILTER (WHERE same_person AND proposed) AS true_positive,
       count(*) FILTER (WHERE NOT same_person AND proposed) AS false_positive,
       count(*) FILTER (WHERE same_person AND NOT proposed) AS false_negative,
       count(*) FILTER (WHERE NOT same_person AND NOT proposed) AS true_negative
FROM p
