#!/usr/bin/env bash
# Stops the Kafka cluster that tests/servers/kafka-start.sh started: brokers first (a clean
# shutdown, so they write their checkpoints), then the controller. Sends SIGTERM to each pid
# in $KEEL_TEST_HOME/kafka/run/node-*.pid, waits up to KEEL_KAFKA_STOP_TIMEOUT seconds
# (default 60), then SIGKILLs what is left. Data stays on disk until the next start.
set -uo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
KEEL_TEST_HOME="${KEEL_TEST_HOME:-$repo/.keel-test}"
run="$KEEL_TEST_HOME/kafka/run"
timeout_s="${KEEL_KAFKA_STOP_TIMEOUT:-60}"

[ -d "$run" ] || exit 0

stop_pids() {
  local pids=() f pid
  for f in "$@"; do
    [ -f "$f" ] || continue
    pid="$(cat "$f" 2>/dev/null)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    fi
  done
  local deadline=$(( $(date +%s) + timeout_s ))
  for pid in "${pids[@]:-}"; do
    [ -n "$pid" ] || continue
    while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "kafka-stop: pid $pid did not stop in ${timeout_s}s, killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

brokers=()
controllers=()
for f in "$run"/node-*.pid; do
  [ -f "$f" ] || continue
  if grep -q '^process.roles=controller$' "${f%.pid}.properties" 2>/dev/null; then
    controllers+=("$f")
  else
    brokers+=("$f")
  fi
done
stop_pids "${brokers[@]:-}"
stop_pids "${controllers[@]:-}"
rm -f "$run"/node-*.pid
exit 0
