#!/usr/bin/env bash
# What recording costs a chat: the same wrk load on three servers in one
# run, records off (the baseline), on SQLite, and on PostgreSQL (a server of
# our own through .ci/with-postgres.sh), each for the same question (the
# smallest work per request: the records' worst case) and for new questions
# (the encoder runs: the usual case). Rounds alternate the servers, so the
# machine's drift falls on all three. Prints wrk's summaries and one JSON
# line of requests/s and ratios. Run by `make bench`; everything on loopback,
# stopped by pid on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z ${SUPPORT_CHAT_TEST_DATABASE_URL:-} ]]; then
  exec .ci/with-postgres.sh "$0" "$@"
fi
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-2}
BIN=./target/release/support-chat
TMP=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$TMP"' EXIT

# A database of its own on the PostgreSQL server.
PG_DB="bench_$$"
python3 - "$SUPPORT_CHAT_TEST_DATABASE_URL" "$PG_DB" <<'PY'
import subprocess, sys, urllib.parse
url = urllib.parse.urlparse(sys.argv[1])
subprocess.run(["psql", "-h", url.hostname, "-p", str(url.port), "-U", url.username, "-d", "postgres",
                "-qc", f"CREATE DATABASE {sys.argv[2]}"], check=True)
PY
PG_URL="${SUPPORT_CHAT_TEST_DATABASE_URL%/*}/$PG_DB"

flags=(--chat-rate-limit 1000000000/60s --max-in-flight 100000 --max-in-flight-per-client 100000 --admin-addr 127.0.0.1:0)
start() { # name port flags...
  local name=$1 port=$2; shift 2
  $BIN --addr "127.0.0.1:$port" "${flags[@]}" "$@" >"$TMP/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 150); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.2; done
  echo "records bench: $name did not start" >&2; cat "$TMP/$name.log" >&2; exit 1
}
start off 3301 --record off
start sqlite 3302 --database "sqlite://$TMP/records.db"
start postgres 3303 --database "$PG_URL"

rps() { awk '/Requests\/sec/ { print $2 }'; }
declare -A total
for round in $(seq "$ROUNDS"); do
  for load in same new; do
    script=benches/chat.lua; [[ $load == new ]] && script=benches/chat-new.lua
    for server in off:3301 sqlite:3302 postgres:3303; do
      name=${server%:*} port=${server#*:}
      r=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s "$script" "http://127.0.0.1:$port/public/v1/support/chat" | rps)
      echo "round $round, $load question, records $name: $r requests/s"
      total[$load.$name]=$(python3 -c "print(${total[$load.$name]:-0} + $r)")
    done
  done
done
# Everything recorded got written (nothing dropped).
for port in 3302 3303; do
  admin=$(grep -o 'admin API) on http://[0-9.:]*' "$TMP/$([[ $port == 3302 ]] && echo sqlite || echo postgres).log" | sed 's|.*http://||')
  curl -fs "http://$admin/metrics" | grep -E '^records_(written|dropped)_total' || true
done
python3 - "${total[same.off]}" "${total[same.sqlite]}" "${total[same.postgres]}" \
  "${total[new.off]}" "${total[new.sqlite]}" "${total[new.postgres]}" "$ROUNDS" <<'PY'
import json, sys
so, ss, sp, no, ns, np, rounds = map(float, sys.argv[1:])
r = int(rounds)
print(json.dumps({
    "same_question": {"off": round(so / r), "sqlite": round(ss / r), "postgres": round(sp / r),
                      "sqlite_vs_off": round(ss / so, 3), "postgres_vs_off": round(sp / so, 3)},
    "new_questions": {"off": round(no / r), "sqlite": round(ns / r), "postgres": round(np / r),
                      "sqlite_vs_off": round(ns / no, 3), "postgres_vs_off": round(np / no, 3)},
}))
PY
