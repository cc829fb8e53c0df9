-- The pipeline's least-privilege login role (docs/contracts/operations.md §5): exactly the grants the three DAGs need,
-- and no superuser. `python -m include.cli create-pipeline-role` runs this file as a DBA (a role with
-- CREATEROLE that owns, or may grant, the application's owner role; never as the pipeline itself),
-- filling in {role}, {owner_role} and {database} as quoted identifiers; it sets the password separately,
-- hashed (SCRAM) on the client, so no server log holds it. Safe to re-run: each step checks or is idempotent.
-- Reads: pg_roles. Writes: the role, its memberships and grants.

-- 1. The role itself: it may log in, nothing else (no superuser, CREATEDB, CREATEROLE, replication;
--    row-level security applies to it).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {role_name}) THEN
    CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT;
  END IF;
END
$$;
ALTER ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT;

-- 2. This database only. CREATE: the pipeline keeps its bookkeeping in its own schemas, which it
--    creates (patient_pipeline, and patient_pipeline_shadow for dry runs); it owns them and nothing else.
GRANT CONNECT, CREATE ON DATABASE {database} TO {role};

-- 3. The schema upgrades create `patients` and its indexes in public.
GRANT USAGE, CREATE ON SCHEMA public TO {role};

-- 4. The upgrades and downgrades ALTER the application's tables (add/drop columns, constraints,
--    CREATE INDEX CONCURRENTLY, VALIDATE CONSTRAINT) and update alembic_version. PostgreSQL lets only a
--    table's owner do that, so the pipeline is a member of the NOLOGIN role that owns them (never of a
--    superuser: create-pipeline-role refuses when a superuser owns the tables, see --transfer-ownership).
GRANT {owner_role} TO {role};

-- 5. The legacy-checksum snapshot dates itself by the oldest running transaction of the database and
--    the lease/lock messages name the sessions holding locks: both read other sessions' rows of
--    pg_stat_activity, which needs pg_read_all_stats (read-only statistics, no data).
GRANT pg_read_all_stats TO {role};
