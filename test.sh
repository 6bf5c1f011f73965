#!/usr/bin/env bash
# Runs every keel test. Installs and starts the real servers the tests need first
# (see tests/servers/), stops them on exit, then runs the whole workspace's tests.
#
#   ./test.sh            # everything
#   ./test.sh -p keel-wire   # extra args go to `cargo test`
set -euo pipefail
cd "$(dirname "$0")"

export KEEL_TEST_HOME="${KEEL_TEST_HOME:-$PWD/.keel-test}"
mkdir -p "$KEEL_TEST_HOME"

pids=()
cleanup() {
  for p in "${pids[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  for s in tests/servers/*-stop.sh; do
    [ -x "$s" ] && "$s" || true
  done
}
trap cleanup EXIT

# Each tests/servers/<name>-start.sh installs (if needed) and starts one server, and
# writes the environment the tests read to $KEEL_TEST_HOME/<name>.env.
for s in tests/servers/*-start.sh; do
  [ -x "$s" ] || continue
  echo "== starting $(basename "$s" -start.sh)"
  "$s"
  # shellcheck disable=SC1090
  set -a; . "$KEEL_TEST_HOME/$(basename "$s" -start.sh).env"; set +a
done

echo "== cargo test --workspace --all-targets --no-fail-fast $*"
# --no-fail-fast: one failing test binary must not hide the results of the others.
cargo test --workspace --all-targets --no-fail-fast "$@"
