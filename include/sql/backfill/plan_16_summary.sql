-- Counts of the plan just built (PlanSummary; ids are listed by the quarantine/review tables).
-- Reads: plan tables only (one pass over each). Writes: nothing.
SELECT p.persons, p.patients_to_create, p.patients_matched, i.invites_to_link, u.users_to_link,
       c.plan_chats AS chats_to_link, i.unresolved_account_invites, p.unparseable_phones,
       i.plan_invites, p.plan_persons, u.plan_users, c.plan_chats, u.users_to_walk
FROM (SELECT count(*) FILTER (WHERE source <> 'existing') AS persons,
             count(*) FILTER (WHERE disposition = 'create') AS patients_to_create,
             count(*) FILTER (WHERE disposition = 'matched'
                                 OR (disposition = 'context' AND user_id IS NOT NULL)) AS patients_matched,
             count(*) FILTER (WHERE disposition = 'create' AND phone_unparseable) AS unparseable_phones,
             count(*) AS plan_persons
      FROM patient_pipeline.backfill_plan_persons) p,
     (SELECT count(*) FILTER (WHERE disposition = 'link') AS invites_to_link,
             count(*) FILTER (WHERE account_id IS NULL) AS unresolved_account_invites,
             count(*) AS plan_invites
      FROM patient_pipeline.backfill_plan_invites) i,
     (SELECT count(*) FILTER (WHERE disposition = 'link') AS users_to_link, count(*) AS plan_users,
             count(*) FILTER (WHERE disposition = 'link' AND link_walk) AS users_to_walk
      FROM patient_pipeline.backfill_plan_users) u,
     (SELECT count(*) AS plan_chats FROM patient_pipeline.backfill_plan_chats) c
