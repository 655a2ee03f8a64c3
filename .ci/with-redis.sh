#!/usr/bin/env bash
# Runs a command beside a redis-server of its own (on a unix socket in a
# temporary folder), with SUPPORT_CHAT_TEST_REDIS_URL pointing at it, and
# stops that server by its pid afterwards. `make unit` runs the integration
# tests through it, so the whole contract is checked on the Redis backend too.
set -euo pipefail
dir=$(mktemp -d)
redis-server --port 0 --save "" --appendonly no --unixsocket "$dir/redis.sock" --dir "$dir" >/dev/null &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 200); do [[ -S $dir/redis.sock ]] && break; sleep 0.05; done
[[ -S $dir/redis.sock ]] || { echo "with-redis: redis-server did not start" >&2; exit 1; }
SUPPORT_CHAT_TEST_REDIS_URL="unix://$dir/redis.sock" "$@"
