-- The steward's review page (docs/contracts/identity.md §4): who looked at which pair and who decided what, from the
-- Airflow UI. Ids only: the actor (Airflow user name), the item id, the two patient ids, the action and
-- its outcome (reason code, stewardship action id). Never a value of either patient.
--   event: view (the item's values were shown, page or JSON) | decision (a decision was submitted)
--   outcome (decision): applied | refused | busy (pipeline lease held elsewhere) | error
-- Reads: the catalog. Writes: patient_pipeline.review_audit, the origin check of steward_action.
-- Safe to re-run: CREATE ... IF NOT EXISTS; the constraint is replaced only when it lacks 'ui' (checked in
-- the catalog first, so a database that has it takes no lock at every task start).
-- No percent sign in this file: it runs through the driver's placeholder parser.
CREATE TABLE IF NOT EXISTS patient_pipeline.review_audit (
    audit_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor text NOT NULL,
    event text NOT NULL,
    item_id text NOT NULL,
    patient_ids text[] NOT NULL DEFAULT '{}',
    action text,
    outcome text,
    reason_code text,
    action_id bigint,
    recorded_at timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    CONSTRAINT ck_review_audit_event CHECK (event IN ('view', 'decision'))
);
CREATE INDEX IF NOT EXISTS ix_review_audit_actor ON patient_pipeline.review_audit (actor, recorded_at);
CREATE INDEX IF NOT EXISTS ix_review_audit_item ON patient_pipeline.review_audit (item_id);

-- Decisions taken on the review page are stewardship actions with origin 'ui' (the signed-in user as actor).
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conrelid = 'patient_pipeline.steward_action'::regclass AND conname = 'ck_steward_action_origin'
          AND position('''ui''' IN pg_get_constraintdef(oid)) > 0
    ) THEN
        ALTER TABLE patient_pipeline.steward_action DROP CONSTRAINT IF EXISTS ck_steward_action_origin;
        ALTER TABLE patient_pipeline.steward_action ADD CONSTRAINT ck_steward_action_origin
            CHECK (origin IN ('dag', 'cli', 'test', 'ui')) NOT VALID;
        ALTER TABLE patient_pipeline.steward_action VALIDATE CONSTRAINT ck_steward_action_origin;
    END IF;
END $$;
