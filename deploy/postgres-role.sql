-- The PostgreSQL role sessiond runs as: it appends to the record and reads it, and nothing more.
--
-- DESIGN.md "The database": sessiond's role has INSERT and SELECT on the append-only tables. It may also
-- UPDATE `sessions` (running totals) and use the id sequences; it may not UPDATE, DELETE or TRUNCATE
-- turns, tool_calls, tool_results, anomaly_events, access_audit_log or dead_letters, nor create, alter or
-- drop anything. The append-only triggers refuse those changes to every role as well.
--
-- Run it as the owner of the tables, after sessiond's migrations have created them (see
-- deploy/create-postgres-role.sh, which does both):
--   psql "$ADMIN_URL" -v ON_ERROR_STOP=1 -v role=flightlog_sessiond -v password=SECRET -f deploy/postgres-role.sql
-- Running it again is harmless: the role is created once, its password reset, its grants made anew.

SELECT format('CREATE ROLE %I LOGIN', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS',
              :'role', :'password') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'role') \gexec

-- Start from nothing on our tables, then grant exactly what sessiond does.
REVOKE ALL ON schema_migrations, sessions, turns, tool_calls, tool_results, anomaly_events, access_audit_log,
              dead_letters FROM :"role";
GRANT USAGE ON SCHEMA public TO :"role";
GRANT SELECT ON schema_migrations TO :"role";
GRANT SELECT, INSERT ON turns, tool_calls, tool_results, anomaly_events, access_audit_log, dead_letters TO :"role";
GRANT SELECT, INSERT, UPDATE ON sessions TO :"role";
-- BIGSERIAL ids: INSERT needs nextval.
GRANT USAGE ON SEQUENCE turns_id_seq, tool_calls_id_seq, tool_results_id_seq, anomaly_events_id_seq,
                        access_audit_log_id_seq, dead_letters_id_seq TO :"role";
-- PostgreSQL before 15 lets every role create in the public schema; this role must not.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
