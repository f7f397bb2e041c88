#!/bin/sh
# Runs a command beside a throwaway PostgreSQL cluster: initdb in a temporary folder, pg_ctl
# on a free loopback port (as the unprivileged `postgres` user when run as root), the
# command, then the cluster stopped and its folder removed, whatever the command's outcome.
#
#   scripts/with_postgres.sh [--skip-if-absent] COMMAND [ARG...]
#
# The command sees RAGD_TEST_POSTGRES, the URL of the cluster's `postgres` database
# (postgres://ragd@127.0.0.1:PORT/postgres, trust authentication, loopback only); tests
# create a database of their own in it.
# PostgreSQL comes from Debian's `postgresql` package (binaries under /usr/lib/postgresql/*/bin,
# or PG_BIN). --skip-if-absent: without it, say so and exit 0; else exit 2.
set -eu

skip=0
if [ "${1:-}" = "--skip-if-absent" ]; then skip=1; shift; fi
[ $# -gt 0 ] || { echo "usage: $0 [--skip-if-absent] COMMAND [ARG...]" >&2; exit 2; }

bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  msg="PostgreSQL is not installed (apt-get install postgresql, or set PG_BIN)"
  if [ $skip = 1 ]; then echo "note: $msg: the PostgreSQL tests were skipped"; exit 0; fi
  echo "error: $msg" >&2; exit 2
fi

dir=$(mktemp -d -t ragd-pg.XXXXXX)
as=""
if [ "$(id -u)" -eq 0 ]; then
  chown postgres "$dir"
  as="runuser -u postgres --"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
stop() {
  $as "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT INT TERM

$as "$bin/initdb" -D "$dir/data" -U ragd --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 2; }
$as "$bin/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 60 \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400 -c shared_buffers=64MB" \
  start >/dev/null || { cat "$dir/pg.log" >&2; exit 2; }
echo "postgresql ($("$bin/postgres" --version | awk '{print $3}')) on 127.0.0.1:$port, data in $dir" >&2

export RAGD_TEST_POSTGRES="postgres://ragd@127.0.0.1:$port/postgres"

set +e
"$@"
rc=$?
exit $rc
