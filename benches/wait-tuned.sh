#!/usr/bin/env bash
# Waits until each server whose log is named has tuned its encoder to the
# knowledge base (the server does it in the background after it starts
# listening, about half a minute on one core per server): the benches
# measure the engine as served, not its start-up. Sourced by the benches.
wait_tuned() { # log...
  local log
  for log in "$@"; do
    for _ in $(seq 600); do
      grep -q 'encoder tuned to the knowledge base' "$log" && continue 2
      sleep 0.5
    done
    echo "bench: no tuned encoder after 300 s in $log" >&2
    exit 1
  done
}
