-- The cross-reference of identifiers (docs/contracts/identity.md 1b) for one chunk (:lo..:hi) of a file: every inserted or
-- matched row with an identifier links (account, the source's :namespace, value) to its patient.
-- A value this namespace already links to the same patient is skipped; one linked to another patient is
-- not skipped on purpose: the primary key raises 23505 and the chunk is re-decided (a concurrent writer
-- claimed the identifier since the decisions), then narrowed down to the row (identity_conflict).
-- The check is a key look-up per row (OFFSET 0 keeps it a correlated sub-plan, not a join the planner may
-- turn into a scan of the account's whole namespace per chunk: that made a 1,000,000-row import quadratic;
-- BENCHMARKS.md, Import).
-- Reads: import_decision, patient_identifier. Writes: patient_identifier.
-- Safe to re-run: rows already linked are skipped.
INSERT INTO patient_pipeline.patient_identifier (account_id, namespace, value, patient_id, origin)
SELECT DISTINCT CAST(:account_id AS text), CAST(:namespace AS text), d.external_id, d.patient_id, CAST(:origin AS text)
FROM patient_pipeline.import_decision d
WHERE d.file_id = :file_id AND d.disposition IN ('insert', 'match') AND d.record_no BETWEEN :lo AND :hi
  AND d.external_id IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM patient_pipeline.patient_identifier x
      WHERE x.account_id = CAST(:account_id AS text) AND x.namespace = CAST(:namespace AS text) AND x.value = d.external_id
        AND x.patient_id = d.patient_id
      OFFSET 0)
