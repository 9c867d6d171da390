#!/bin/bash
# Runs once, when the primary's data folder is initialised (the postgres
# image's /docker-entrypoint-initdb.d): a replication role for the standbys.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v pw="$REPLICATION_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD %L', :'pw') \gexec
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
