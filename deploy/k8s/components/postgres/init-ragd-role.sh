#!/bin/sh
# Runs once, when the Postgres container initialises an empty data directory
# (/docker-entrypoint-initdb.d; used by deploy/compose.yaml and the Helm chart's in-chart
# Postgres). POSTGRES_USER is the image's superuser; ragd itself connects as RAGD_DB_USER,
# which is neither superuser nor BYPASSRLS: those skip row-level security, and every
# tenant-scoped table relies on it (docs/deploy.md, "Postgres role and row-level security").
# ragd's role owns the database's public schema, so it can migrate; FORCE ROW LEVEL
# SECURITY holds the owner to the policies. The extensions need a superuser, so they are
# created here.
set -eu
: "${RAGD_DB_USER:?RAGD_DB_USER is not set}"
: "${RAGD_DB_PASSWORD:?RAGD_DB_PASSWORD is not set}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v role="$RAGD_DB_USER" -v pw="$RAGD_DB_PASSWORD" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'pw' NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
ALTER DATABASE :"db" OWNER TO :"role";
ALTER SCHEMA public OWNER TO :"role";
CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS btree_gin;
SQL
