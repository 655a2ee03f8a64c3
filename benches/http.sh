#!/usr/bin/env bash
# Load on POST /public/v1/support/chat against GET /healthz on the same
# server in the same run, 64 connections each, with the chat limit raised.
# Prints wrk's reports and one JSON summary line. Run by `make bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-3100}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
BIN=./target/release/support-chat

$BIN --addr 127.0.0.1:$PORT --chat-rate-limit 1000000000/60s --max-in-flight 100000 >/tmp/support-chat-bench.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done

run() { wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$@"; }
healthz=$(run "http://127.0.0.1:$PORT/healthz")
chat=$(run -s benches/chat.lua "http://127.0.0.1:$PORT/public/v1/support/chat")
echo "== GET /healthz"; echo "$healthz"
echo "== POST /public/v1/support/chat"; echo "$chat"

rps() { awk '/Requests\/sec/ { print $2 }' <<<"$1"; }
pct() { awk -v p="$2" '$1 == p { print $2 }' <<<"$1"; }
errors() { awk '/Non-2xx/ { print $NF }' <<<"$1"; }
python3 - "$(rps "$healthz")" "$(rps "$chat")" "$(pct "$healthz" 50%)" "$(pct "$healthz" 99%)" \
  "$(pct "$chat" 50%)" "$(pct "$chat" 99%)" "$(errors "$chat")" <<'PY'
import json, sys
h, c, h50, h99, c50, c99, errs = sys.argv[1:]
print(json.dumps({"connections": 64, "healthz_rps": float(h), "chat_rps": float(c),
  "chat_vs_healthz_throughput": round(float(c) / float(h), 3),
  "healthz_p50": h50, "healthz_p99": h99, "chat_p50": c50, "chat_p99": c99,
  "chat_non_2xx": int(errs or 0)}))
PY
