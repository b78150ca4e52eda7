#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster on a loopback port, for tests and benchmarks.
#   scripts/pg-test-cluster.sh start DIR   -> prints postgres://postgres@127.0.0.1:PORT/postgres
#   scripts/pg-test-cluster.sh stop DIR
# Runs the server as the `postgres` user (initdb refuses root); trust auth on loopback only.
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?data directory}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || { echo "pg-test-cluster: PostgreSQL is not installed (apt-get install postgresql-15)" >&2; exit 1; }
# Whatever descriptors the caller had open (a test process's sockets, say) stay with the caller: the server
# started below lives on, and holding them would keep those connections open behind the caller's back.
for fd in /proc/$$/fd/*; do fd=${fd##*/}; if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi; done
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case $cmd in
  start)
    mkdir -p "$dir"; chmod 0777 "$dir"
    # The server runs as postgres: every folder above DIR must be traversable by it.
    p=$(dirname "$dir"); while [ "$p" != / ]; do [ -O "$p" ] && chmod o+x "$p"; p=$(dirname "$p"); done
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    as_pg "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on" start >/dev/null
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
esac
