#!/usr/bin/env bash
# The engine's accuracy on BANKING77 (../shared), with the encoder and
# lexical-only, in one run: trained on all of train and on 10 examples per
# intent (seeds 1-3), tested on dev plus the 151 out-of-scope questions of
# tests/data/oos_dev.csv. One JSON line per run. Run by `make bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=./target/release/support-chat
DATA=../shared/data/banking77
mkdir -p target/embeddings
(cat $DATA/dev.csv; tail -n +2 tests/data/oos_dev.csv) > target/dev-and-oos.csv
for encoder in minilm none; do
  for shots in all 10:1 10:2 10:3; do
    args=(--train $DATA/train.csv --test target/dev-and-oos.csv --encoder $encoder
          --embedding-cache target/embeddings/banking77.bin)
    [[ $shots == all ]] || args+=(--shots "${shots%:*}" --seed "${shots#*:}")
    report=$($BIN eval "${args[@]}" | tail -n 1)
    printf '{"encoder":"%s","shots":"%s","report":%s}\n' "$encoder" "$shots" "$report"
  done
done
