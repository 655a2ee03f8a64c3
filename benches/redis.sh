#!/usr/bin/env bash
# The chat endpoint with its rate limit and sessions on Redis against the
# in-process stores, in one run: two servers side by side on loopback, one
# with --redis-url (a redis-server of our own on a unix socket), the same
# wrk load on each; then one limiter decision as Redis runs it (the Lua
# script through redis-benchmark, one connection) for its latency.
# Run by `make bench`; everything is stopped by pid on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
BIN=./target/release/support-chat
TMP=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$TMP"' EXIT

redis-server --port 0 --save "" --appendonly no --unixsocket "$TMP/redis.sock" --dir "$TMP" >/dev/null &
pids+=($!)
for _ in $(seq 100); do [[ -S $TMP/redis.sock ]] && break; sleep 0.05; done

flags=(--chat-rate-limit 1000000000/60s --max-in-flight 100000 --max-in-flight-per-client 100000 --admin-addr 127.0.0.1:0 --record off)
$BIN --addr 127.0.0.1:3201 "${flags[@]}" >"$TMP/memory.log" 2>&1 &
pids+=($!)
$BIN --addr 127.0.0.1:3202 "${flags[@]}" --redis-url "unix://$TMP/redis.sock" \
  --redis-key-secret "benchmark secret, not for production" >"$TMP/redis.log" 2>&1 &
pids+=($!)
for port in 3201 3202; do
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
done
source benches/wait-tuned.sh
wait_tuned "$TMP/memory.log" "$TMP/redis.log"

run() { wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s benches/chat.lua "http://127.0.0.1:$1/public/v1/support/chat"; }
memory=$(run 3201)
redis=$(run 3202)
echo "== in-process stores"; echo "$memory"
echo "== Redis"; echo "$redis"

script=$(sed -n '/^pub const WINDOW_SCRIPT/,/^";/p' src/store/redis.rs | sed '1d;$d')
decision=$(redis-benchmark -s "$TMP/redis.sock" -c 1 -n 50000 -q --precision 3 \
  EVAL "$script" 1 support-chat:rl:bench 1000000000 60000 | tr '\r' '\n' | tail -n 1)
decision=${decision##*: }
echo "== one decision on Redis (redis-benchmark, 1 connection): $decision"

rps() { awk '/Requests\/sec/ { print $2 }' <<<"$1"; }
pct() { awk -v p="$2" '$1 == p { print $2 }' <<<"$1"; }
errors() { awk '/Non-2xx/ { print $NF }' <<<"$1"; }
python3 - "$(rps "$memory")" "$(rps "$redis")" "$(pct "$memory" 50%)" "$(pct "$memory" 99%)" \
  "$(pct "$redis" 50%)" "$(pct "$redis" 99%)" "$(errors "$redis")" "$decision" <<'PY'
import json, sys
m, r, m50, m99, r50, r99, errs, decision = sys.argv[1:]
print(json.dumps({"connections": 64, "memory_chat_rps": float(m), "redis_chat_rps": float(r),
  "redis_vs_memory_throughput": round(float(r) / float(m), 3),
  "memory_p50": m50, "memory_p99": m99, "redis_p50": r50, "redis_p99": r99,
  "redis_non_2xx": int(errs or 0), "redis_decision": decision.strip()}))
PY
