#!/usr/bin/env bash
# Contract fuzzing: schemathesis generates requests from the server's own
# OpenAPI document (GET /public/v1/openapi.json) and checks every response
# against it: no 5xx, documented status codes, content types, headers and
# response schemas, and that schema-valid requests are accepted and
# schema-invalid ones refused.
#
# Usage: .ci/fuzz.sh [SERVER_BINARY]      (default: target/release/support-chat)
# Environment:
#   FUZZ_EXAMPLES  examples per operation and phase (default 100; 2000 with FUZZ_LONG=1)
#   FUZZ_LONG=1    the long mode
#   FUZZ_SEED      hypothesis seed (default 1: a run is reproducible)
#   FUZZ_CHECKS    comma-separated schemathesis checks (default below)
#   FUZZ_WORKERS   concurrent schemathesis workers (default 1)
# Reports (NDJSON, JUnit) land in target/fuzz/. Exit status non-zero on any
# failure. Everything is on loopback; the server is stopped by its pid.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SCHEMATHESIS_VERSION=4.32.5
BIN=${1:-target/release/support-chat}
LONG=${FUZZ_LONG:-0}
if [[ $LONG == 1 ]]; then EXAMPLES=${FUZZ_EXAMPLES:-2000}; else EXAMPLES=${FUZZ_EXAMPLES:-100}; fi
SEED=${FUZZ_SEED:-1}
WORKERS=${FUZZ_WORKERS:-1}
CHECKS=${FUZZ_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,positive_data_acceptance,negative_data_rejection,unsupported_method,allow_header_conformance}
VENV=target/fuzz-venv
OUT=target/fuzz

[[ -x $BIN ]] || { echo "fuzz: no server binary at $BIN (make server)" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

# 1. The venv, created once and reused while it holds the pinned version.
if [[ "$("$VENV/bin/schemathesis" --version 2>/dev/null || true)" != *"version $SCHEMATHESIS_VERSION" ]]; then
  echo "fuzz: installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
"$VENV/bin/schemathesis" --version

# 2. The server, on a free loopback port, with the chat and file limits raised
#    so the fuzzer tests the contract rather than the rate limiter.
TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -f target/site/pkg/support_chat_widget_bg.wasm && -f target/site/widget.js ]]; then
  WIDGET_DIR=target/site
else
  # No widget build: the same throwaway fixture the integration tests use.
  WIDGET_DIR=$TMP/site
  mkdir -p "$WIDGET_DIR/pkg"
  printf 'export default function init() {}' >"$WIDGET_DIR/pkg/support_chat_widget.js"
  printf '\0asm\x01\0\0\0' >"$WIDGET_DIR/pkg/support_chat_widget_bg.wasm"
  printf 'var version = "__SUPPORT_CHAT_VERSION__"; var max = "__SUPPORT_CHAT_MAX_CHARS__";' >"$WIDGET_DIR/widget.js"
  printf ':host{}' >"$WIDGET_DIR/widget.css"
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

healthy() {
  python3 - "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=1) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

# Handoffs are taken (to a webhook nobody answers, on loopback), so the
# fuzzer reaches the handoff endpoint's validation rather than `503`.
export SUPPORT_CHAT_HANDOFF_WEBHOOK_SECRET="a fuzzing webhook secret"
for attempt in 1 2 3; do
  PORT=$(free_port)
  "$BIN" --addr "127.0.0.1:$PORT" --admin-addr 127.0.0.1:0 --database "sqlite://$TMP/records.db" \
    --chat-rate-limit 1000000000/60s --files-rate-limit 1000000000/60s \
    --handoff-webhook-url "http://127.0.0.1:$(free_port)/nobody-listens" --handoff-limit 1000000/1h \
    --widget-dir "$WIDGET_DIR" --public-dir public >"$TMP/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    healthy "$PORT" && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  healthy "$PORT" && break
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
  echo "fuzz: server did not come up on port $PORT (attempt $attempt):" >&2
  tail -n 5 "$TMP/server.log" >&2
done
[[ -n $SERVER_PID ]] || { echo "fuzz: server failed to start" >&2; exit 1; }
echo "fuzz: server pid $SERVER_PID on 127.0.0.1:$PORT; $EXAMPLES examples per operation, seed $SEED"

# 3. Schemathesis. It runs in target/fuzz so its caches land there too.
rm -rf "$OUT" && mkdir -p "$OUT"
status=0
(
  cd "$OUT"
  exec "$ROOT/$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/public/v1/openapi.json" \
    --checks "$CHECKS" \
    --max-examples "$EXAMPLES" \
    --seed "$SEED" \
    --workers "$WORKERS" \
    --continue-on-failure \
    --generation-database none \
    --request-timeout 10 \
    --output-sanitize false \
    --no-color \
    --report ndjson,junit --report-dir . \
    --report-ndjson-path events.ndjson --report-junit-path junit.xml
) || status=$?

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "fuzz: the server died during the run:" >&2
  tail -n 20 "$TMP/server.log" >&2
  status=1
fi

# 4. One closing line, counted from schemathesis' own event log: a test case
#    passed when every check on it passed; engine errors count as failures.
#    Printed only when the count agrees with the exit status.
python3 - "$OUT/events.ndjson" "$status" <<'PY' || true
import json, sys
passed = failed = 0
try:
    for line in open(sys.argv[1], encoding="utf-8"):
        event = json.loads(line)
        if "NonFatalError" in event or "FatalError" in event:
            failed += 1
            continue
        finished = event.get("ScenarioFinished") or event.get("FuzzScenarioFinished")
        if not finished:
            continue
        for results in (finished.get("recorder") or {}).get("checks", {}).values():
            if all(r.get("status") == "success" for r in results):
                passed += 1
            else:
                failed += 1
except (OSError, ValueError):
    sys.exit(0)
if passed + failed == 0 or (failed == 0) != (sys.argv[2] == "0"):
    print(f"fuzz: schemathesis exited with status {sys.argv[2]}")
else:
    print(f"fuzz: {passed} passed, {failed} failed")
PY
exit "$status"
