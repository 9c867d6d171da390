#!/bin/bash
# Runs once, when the primary's data folder is initialised (the postgres
# image's /docker-entrypoint-initdb.d, as the postgres user, with the server
# up on its socket): the pgBackRest stanza in the pg-backups volume, then the
# first full backup, so the archive that archive_command fills from now on
# has a base to restore from. More: docker compose exec -u postgres
# db-primary pgbackrest --stanza=rcr backup (docs/RUNBOOKS.md).
set -euo pipefail
pgbackrest --stanza=rcr stanza-create
pgbackrest --stanza=rcr check
pgbackrest --stanza=rcr --type=full backup
