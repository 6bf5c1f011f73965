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
set +e
cargo test --workspace --all-targets --no-fail-fast "$@"
tests_rc=$?
set -e

# Lints are part of the test: the workspace's [workspace.lints] (no unwrap/expect/panic outside
# tests, ...) and clippy's defaults, as errors. Skipped only when extra cargo args select a part.
clippy_rc=0
if [ "$#" -eq 0 ]; then
  echo "== cargo clippy --workspace --all-targets -- -D warnings"
  cargo clippy --workspace --all-targets -- -D warnings || clippy_rc=$?
fi
if [ "$tests_rc" -ne 0 ]; then
  echo "== tests failed (exit $tests_rc)"
  exit "$tests_rc"
fi
if [ "$clippy_rc" -ne 0 ]; then
  echo "== clippy failed (exit $clippy_rc)"
  exit "$clippy_rc"
fi
