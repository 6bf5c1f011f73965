#!/usr/bin/env bash
# Installs (once) and starts tansu (https://crates.io/crates/tansu), a Kafka-compatible broker
# written in Rust, with in-memory storage, for keel's second-implementation tests
# (tests/snapshot_tansu.rs). Then writes $KEEL_TEST_HOME/tansu.env:
#   KEEL_TANSU_BOOTSTRAP=127.0.0.1:<port>
#   KEEL_TANSU_BIN=<path of the tansu binary>
#
# Install: `cargo install tansu@0.6.0 --locked --features dynostore --debug` into
# $KEEL_TEST_HOME/tansu (its own CARGO_TARGET_DIR there, so it does not fight the workspace
# build; about 6+ minutes), skipped when the binary is already there.
# Knobs (env): KEEL_TEST_HOME (default <repo>/.keel-test), KEEL_TANSU_PORT (default 19500),
# KEEL_TANSU_START_TIMEOUT (seconds, default 60).
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
export KEEL_TEST_HOME="${KEEL_TEST_HOME:-$repo/.keel-test}"
home="$KEEL_TEST_HOME/tansu"
port="${KEEL_TANSU_PORT:-19500}"
timeout_s="${KEEL_TANSU_START_TIMEOUT:-60}"
bin="$home/bin/tansu"
mkdir -p "$home"

if [ ! -x "$bin" ]; then
  echo "installing tansu 0.6.0 into $home (takes 6+ minutes)" >&2
  CARGO_TARGET_DIR="$home/target" cargo install tansu@0.6.0 --locked --features dynostore \
    --debug --root "$home" >"$home/install.log" 2>&1 || {
    tail -30 "$home/install.log" >&2
    echo "tansu install failed (log: $home/install.log)" >&2
    exit 1
  }
fi

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

pidfile="$home/tansu.pid"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && answers; then
  echo "tansu already running (pid $(cat "$pidfile"))" >&2
else
  if answers; then
    echo "port $port is taken by another process; set KEEL_TANSU_PORT" >&2
    exit 1
  fi
  "$bin" broker \
    --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine "memory://tansu/" >"$home/tansu.log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 $((timeout_s * 10))); do
    answers && break
    kill -0 "$(cat "$pidfile")" 2>/dev/null || { tail -30 "$home/tansu.log" >&2; echo "tansu exited" >&2; exit 1; }
    sleep 0.1
  done
  answers || { tail -30 "$home/tansu.log" >&2; echo "tansu did not answer on port $port" >&2; exit 1; }
fi

cat >"$KEEL_TEST_HOME/tansu.env" <<ENV
KEEL_TANSU_BOOTSTRAP=127.0.0.1:$port
KEEL_TANSU_BIN=$bin
ENV
echo "tansu on 127.0.0.1:$port, env in $KEEL_TEST_HOME/tansu.env" >&2
