#!/usr/bin/env bash
# What a turn costs PostgreSQL to take, by the shape of the `turns` table:
# as it was before migration 5 (three B-trees, the database's collation),
# without the time index, and as it is now (without it, ids compared byte
# by byte). Batches of 300,000 rows like the cached-answer load's go into
# each table in turn by `\copy` (CSV, from a file), growing each to
# BATCHES × 300,000 rows; prints the wall µs a row of every batch. With
# SPREAD_MS > 0 each row's conversation began up to that long before it
# (conversations of several turns; the load's have one). A PostgreSQL of
# our own through .ci/with-postgres.sh, autovacuum off so every batch
# costs only its own writing; stopped by pid on exit. BENCHMARKS.md,
# "Records", has its figures.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z ${SUPPORT_CHAT_TEST_DATABASE_URL:-} ]]; then
  exec env PG_OPTIONS="-c autovacuum=off" .ci/with-postgres.sh "$0" "$@"
fi
BATCHES=${BATCHES:-6}
SPREAD_MS=${SPREAD_MS:-0}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
URL=$SUPPORT_CHAT_TEST_DATABASE_URL

columns="reply_id TEXT PRIMARY KEY, session_hash TEXT NOT NULL, at_ms BIGINT NOT NULL, day TEXT NOT NULL,
  message TEXT NOT NULL, outcome TEXT NOT NULL, confidence DOUBLE PRECISION NOT NULL, article_id TEXT,
  article_version TEXT, embedding TEXT, complaint BIGINT NOT NULL DEFAULT 0, care TEXT,
  review TEXT NOT NULL DEFAULT 'open'"
psql "$URL" -q <<SQL
CREATE TABLE before_5 ($columns);
CREATE INDEX before_5_session ON before_5 (session_hash, at_ms);
CREATE INDEX before_5_time ON before_5 (at_ms);
CREATE TABLE no_time_index ($columns);
CREATE INDEX no_time_index_session ON no_time_index (session_hash, at_ms);
CREATE TABLE now_5 ($columns);
ALTER TABLE now_5 ALTER COLUMN reply_id TYPE TEXT COLLATE "C", ALTER COLUMN session_hash TYPE TEXT COLLATE "C";
CREATE INDEX now_5_session ON now_5 (session_hash, at_ms);
SQL

for batch in $(seq "$BATCHES"); do
  # 20 turns a millisecond, ids beginning with their time (as the server's).
  python3 - "$TMP/rows.csv" "$SPREAD_MS" <<'PY'
import os, random, sys, time
spread = int(sys.argv[2])
start = int(time.time() * 1000)
with open(sys.argv[1], "w") as out:
    for i in range(300_000):
        at = start + i // 20
        began = at - (random.randrange(spread) if spread else 0)
        reply = "%012x%04x%s" % (at, random.getrandbits(16), os.urandom(8).hex())
        session = "%012x%s" % (began, os.urandom(10).hex())
        out.write(f"{reply},{session},{at},2026-12-04,How long does an application take?,answered,0.93,"
                  f"application-time,{os.urandom(6).hex()},,0,\n")
PY
  for table in before_5 no_time_index now_5; do
    started=$(date +%s.%N)
    psql "$URL" -qc "\\copy $table (reply_id, session_hash, at_ms, day, message, outcome, confidence, article_id, article_version, embedding, complaint, care) FROM '$TMP/rows.csv' CSV"
    ended=$(date +%s.%N)
    python3 -c "print('batch $batch, $table: %.2f µs a row' % (($ended - $started) / 300_000 * 1e6))"
  done
done
