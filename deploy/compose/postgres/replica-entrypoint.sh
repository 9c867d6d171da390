#!/bin/bash
# A streaming replica: on first start, clone the primary with pg_basebackup
# (-R writes standby.signal and primary_conninfo; -S uses a replication slot
# named after the replica), then run the stock entrypoint, which finds the
# data folder initialised and starts a hot standby.
set -euo pipefail
: "${PRIMARY_HOST:?}" "${REPLICATION_PASSWORD:?}" "${REPLICA_SLOT:?}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h "$PRIMARY_HOST" -p 5432 -q; do sleep 1; done
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  export PGPASSWORD="$REPLICATION_PASSWORD"
  base=(pg_basebackup -h "$PRIMARY_HOST" -p 5432 -U replicator -D "$PGDATA" -X stream -R -S "$REPLICA_SLOT")
  # -C creates the slot; it already exists when only this volume was reset.
  gosu postgres "${base[@]}" -C || gosu postgres "${base[@]}"
  unset PGPASSWORD
fi
# cluster_name becomes the walreceiver's application_name (synchronous_standby_names).
exec docker-entrypoint.sh postgres -c hot_standby=on -c hot_standby_feedback=on \
  -c cluster_name="${REPLICA_NAME:-$REPLICA_SLOT}" "$@"
