#!/usr/bin/env bash
# Prepares a PostgreSQL database for sessiond and creates the role it runs as.
#
#   deploy/create-postgres-role.sh ADMIN_URL [ROLE]
#
# ADMIN_URL  postgres://owner[:password]@host:port/database — the role that owns Flightlog's tables
# ROLE       the role sessiond logs in as (default flightlog_sessiond); its password is $FLIGHTLOG_DB_PASSWORD,
#            else a random one
#
# 1. applies sessiond's migrations as the owner (`sessiond --migrate-only`), so tables and triggers belong
#    to the owner, not to sessiond;
# 2. creates ROLE with INSERT and SELECT on the append-only tables and nothing more (postgres-role.sql);
# 3. prints the database.url to put in the configuration.
# Re-run it after upgrading sessiond when a release adds a migration.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
admin=${1:?usage: create-postgres-role.sh ADMIN_URL [ROLE]}
role=${2:-flightlog_sessiond}
password=${FLIGHTLOG_DB_PASSWORD:-$(openssl rand -hex 24)}
sessiond=${SESSIOND:-$(command -v sessiond || echo /usr/local/bin/sessiond)}
[ -x "$sessiond" ] || { echo "create-postgres-role: no sessiond binary (set SESSIOND=/path/to/sessiond)" >&2; exit 1; }
command -v psql >/dev/null || { echo "create-postgres-role: psql is not installed" >&2; exit 1; }

home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
"$sessiond" --migrate-only --home "$home" --set "database.url=$admin"
psql "$admin" -q -v ON_ERROR_STOP=1 -v role="$role" -v password="$password" -f "$here/postgres-role.sql"

# The same server and database, as the new role.
rest=${admin#*://}; rest=${rest#*@}
echo "database.url: postgres://$role:$password@$rest"
