#!/usr/bin/env bash
# Stops the s3s-fs server started by s3-start.sh (by the pid it recorded).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
export KEEL_TEST_HOME="${KEEL_TEST_HOME:-$repo/.keel-test}"
pidfile="$KEEL_TEST_HOME/s3/s3s-fs.pid"
if [ -f "$pidfile" ]; then
  kill "$(cat "$pidfile")" 2>/dev/null || true
  rm -f "$pidfile"
fi
