#!/usr/bin/env bash
# What recording costs a chat: the same wrk load on three servers in one
# run, records off (the baseline), on SQLite, and on PostgreSQL (a server of
# our own through .ci/with-postgres.sh), each for the same question (the
# smallest work per request: the records' worst case) and for new questions
# (the encoder runs: the usual case). Rounds rotate the servers' order, so
# the machine's drift falls on all three. Prints wrk's summaries and one JSON
# line of requests/s and ratios, and of CPU time per request: each server's
# own in its window, and for PostgreSQL also all the database server's in
# every window of that load (its background work lands anywhere). CPU per
# request is what a saturated machine's throughput divides, and moves far
# less with the neighbours' load than requests/s. Run by `make bench`;
# everything on loopback, stopped by pid on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z ${SUPPORT_CHAT_TEST_DATABASE_URL:-} ]]; then
  exec .ci/with-postgres.sh "$0" "$@"
fi
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-3}
BIN=./target/release/support-chat
TMP=$(mktemp -d)
declare -A server_pid # name -> pid: stopped on exit, and read for CPU time
trap 'kill "${server_pid[@]}" 2>/dev/null || true; rm -rf "$TMP"' EXIT

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
  server_pid[$name]=$!
  for _ in $(seq 150); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.2; done
  echo "records bench: $name did not start" >&2; cat "$TMP/$name.log" >&2; exit 1
}
start off 3301 --record off
start sqlite 3302 --database "sqlite://$TMP/records.db"
start postgres 3303 --database "$PG_URL"
source benches/wait-tuned.sh
wait_tuned "$TMP/off.log" "$TMP/sqlite.log" "$TMP/postgres.log"

# The database server: the postmaster listening on the URL's port, and its
# children (backends, checkpointer, autovacuum).
PG_PORT=${SUPPORT_CHAT_TEST_DATABASE_URL##*:}; PG_PORT=${PG_PORT%%/*}
postmaster=$(ss -ltnpH "sport = :$PG_PORT" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
# CPU time in clock ticks of processes (with their reaped children's).
ticks() {
  local total=0 p
  for p in "$@"; do
    total=$((total + $(awk '{ sub(/.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
pg_ticks() { ticks "$postmaster" $(ps -o pid= --ppid "$postmaster"); }
for round in $(seq "$ROUNDS"); do
  for load in same new; do
    script=benches/chat.lua; [[ $load == new ]] && script=benches/chat-new.lua
    # Each round starts with a different server, so drift in the machine
    # over a round (and the databases growing) falls on all three alike.
    servers=(off:3301 sqlite:3302 postgres:3303)
    for i in 0 1 2; do
      server=${servers[$(((i + round) % 3))]}
      name=${server%:*} port=${server#*:}
      before=$(ticks "${server_pid[$name]}") pg_before=$(pg_ticks)
      wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s "$script" "http://127.0.0.1:$port/public/v1/support/chat" >"$TMP/wrk"
      sleep 0.2 # the writer's last batch of the window (it lingers 100 ms)
      cpu=$(($(ticks "${server_pid[$name]}") - before)) pg_cpu=$(($(pg_ticks) - pg_before))
      r=$(awk '/Requests\/sec/ { print $2 }' "$TMP/wrk")
      n=$(awk '/requests in/ { print $1 }' "$TMP/wrk")
      echo "round $round, $load question, records $name: $r requests/s, $cpu ticks for $n requests"
      echo "$round $load $name $r $n $cpu $pg_cpu" >>"$TMP/results"
    done
  done
done
# Everything recorded got written (nothing dropped).
for port in 3302 3303; do
  admin=$(grep -o 'admin API) on http://[0-9.:]*' "$TMP/$([[ $port == 3302 ]] && echo sqlite || echo postgres).log" | sed 's|.*http://||')
  curl -fs "http://$admin/metrics" | grep -E '^records_(written|dropped)_total' || true
done
# Per load: mean requests/s of each server, and the median over rounds of
# each round's ratio to records off (one disturbed run moves a mean, not
# that) with the lowest and highest round's; CPU microseconds per request
# over all rounds, and records off's divided by each one's (the throughput
# a saturated machine would keep).
python3 - "$TMP/results" "$(getconf CLK_TCK)" <<'PY'
import json, statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
tick_us = 1e6 / int(sys.argv[2])
names = ("off", "sqlite", "postgres")
out = {}
for load, key in (("same", "same_question"), ("new", "new_questions")):
    mine = [r for r in rows if r[1] == load]
    rps = {(r, n): float(v) for r, _, n, v, *_ in mine}
    rounds = sorted({r for r, _ in rps})
    result = {n: round(statistics.mean(rps[(r, n)] for r in rounds)) for n in names}
    for n in names[1:]:
        ratios = sorted(rps[(r, n)] / rps[(r, "off")] for r in rounds)
        result[f"{n}_vs_off"] = round(statistics.median(ratios), 3)
        # The rounds' spread: how far one run's median can be trusted.
        result[f"{n}_vs_off_range"] = [round(ratios[0], 3), round(ratios[-1], 3)]
    requests = {n: sum(int(c) for _, _, m, _, c, _, _ in mine if m == n) for n in names}
    cpu = {n: sum(int(t) for _, _, m, _, _, t, _ in mine if m == n) for n in names}
    cpu["postgres"] += sum(int(p) for *_, p in mine)
    per = {n: cpu[n] * tick_us / requests[n] for n in names}
    result["cpu_us_per_request"] = {n: round(per[n], 1) for n in names}
    for n in names[1:]:
        result[f"cpu_{n}_vs_off"] = round(per["off"] / per[n], 3)
    out[key] = result
print(json.dumps(out))
PY
