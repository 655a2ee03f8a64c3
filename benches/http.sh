#!/usr/bin/env bash
# Load on POST /public/v1/support/chat against GET /healthz on the same
# server in the same run, 64 connections each, with the chat limit raised;
# then the encoder's cost: new questions (every one encoded) on this server
# and on a lexical-only one (--encoder none) in the same run.
# Prints wrk's reports and one JSON summary line. Run by `make bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-3100}
LEXICAL_PORT=${LEXICAL_PORT:-3101}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
BIN=./target/release/support-chat
TMP=$(mktemp -d)
FLAGS=(--chat-rate-limit 1000000000/60s --max-in-flight 100000 --admin-addr 127.0.0.1:0 --record off)

$BIN --addr 127.0.0.1:$PORT "${FLAGS[@]}" >/tmp/support-chat-bench.log 2>&1 &
server=$!
$BIN --addr 127.0.0.1:$LEXICAL_PORT --encoder none "${FLAGS[@]}" >/tmp/support-chat-bench-lexical.log 2>&1 &
lexical=$!
trap 'kill $server $lexical 2>/dev/null || true; rm -rf "$TMP"' EXIT
for port in $PORT $LEXICAL_PORT; do
  for _ in $(seq 150); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
done
source benches/wait-tuned.sh
wait_tuned /tmp/support-chat-bench.log # the lexical server has no encoder to tune

run() { wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$@"; }
healthz=$(run "http://127.0.0.1:$PORT/healthz")
chat=$(run -s benches/chat.lua "http://127.0.0.1:$PORT/public/v1/support/chat")
new=$(run -s benches/chat-new.lua "http://127.0.0.1:$PORT/public/v1/support/chat")
new_lexical=$(run -s benches/chat-new.lua "http://127.0.0.1:$LEXICAL_PORT/public/v1/support/chat")
echo "== GET /healthz"; echo "$healthz"
echo "== POST /public/v1/support/chat (the same question: embedding cached)"; echo "$chat"
echo "== POST /public/v1/support/chat (new questions, encoder)"; echo "$new"
echo "== POST /public/v1/support/chat (new questions, lexical only)"; echo "$new_lexical"

rps() { awk '/Requests\/sec/ { print $2 }' <<<"$1"; }
pct() { awk -v p="$2" '$1 == p { print $2 }' <<<"$1"; }
errors() { awk '/Non-2xx/ { print $NF }' <<<"$1"; }
summary() { echo "$(rps "$1") $(pct "$1" 50%) $(pct "$1" 99%) $(errors "$1")"; }
python3 - "$CONNECTIONS" "$(summary "$healthz")" "$(summary "$chat")" "$(summary "$new")" "$(summary "$new_lexical")" <<'PY'
import json, sys
connections, *runs = sys.argv[1:]
names = ["healthz", "chat_cached", "chat_new_encoder", "chat_new_lexical"]
out = {"connections": int(connections)}
for name, run in zip(names, runs):
    rps, p50, p99, *errs = run.split() + [""]
    out[name] = {"rps": float(rps), "p50": p50, "p99": p99, "non_2xx": int(errs[0] or 0)}
out["chat_cached_vs_healthz"] = round(out["chat_cached"]["rps"] / out["healthz"]["rps"], 3)
out["chat_new_encoder_vs_lexical"] = round(out["chat_new_encoder"]["rps"] / out["chat_new_lexical"]["rps"], 3)
print(json.dumps(out))
PY
