#!/usr/bin/env bash
# Stops the tansu broker started by tansu-start.sh (by the pid it recorded).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
export KEEL_TEST_HOME="${KEEL_TEST_HOME:-$repo/.keel-test}"
pidfile="$KEEL_TEST_HOME/tansu/tansu.pid"
if [ -f "$pidfile" ]; then
  kill "$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$pidfile"
fi
