#!/usr/bin/env bash
# Runs a command beside a PostgreSQL server of its own (Debian's binaries,
# run as the `postgres` user, a throwaway data folder, a free loopback port),
# with SUPPORT_CHAT_TEST_DATABASE_URL pointing at it, and stops that server
# by its pid afterwards. `make unit` runs the integration tests through it,
# so the records hold on PostgreSQL as on SQLite.
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[[ -x $bin/postgres ]] || { echo "with-postgres: no PostgreSQL under /usr/lib/postgresql (make setup-postgres)" >&2; exit 1; }
dir=$(mktemp -d)
chown postgres "$dir"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_postgres() { runuser -u postgres -- "$@"; }
as_postgres "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 >/dev/null
# PG_OPTIONS: more of the server's settings, e.g. "-c autovacuum=off".
read -ra options <<<"${PG_OPTIONS:-}"
as_postgres "$bin/postgres" -D "$dir/data" -p "$port" -k "$dir" -h 127.0.0.1 \
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 \
  "${options[@]}" >"$dir/server.log" 2>&1 &
stop() {
  # The server's own pid, from its pid file (runuser's is only a parent).
  if [[ -f $dir/data/postmaster.pid ]]; then
    kill "$(head -n 1 "$dir/data/postmaster.pid")" 2>/dev/null || true
    for _ in $(seq 100); do [[ -f $dir/data/postmaster.pid ]] || break; sleep 0.05; done
  fi
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap stop EXIT
for _ in $(seq 200); do
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres && break
  sleep 0.05
done
"$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres || { echo "with-postgres: the server did not start:" >&2; cat "$dir/server.log" >&2; exit 1; }
SUPPORT_CHAT_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres" "$@"
