#!/usr/bin/env bash
# Installs (once) and starts an S3-compatible server (s3s-fs) on 127.0.0.1 for keel's tiering
# tests, then writes $KEEL_TEST_HOME/s3.env:
#   AWS_ENDPOINT=http://127.0.0.1:<port>   AWS_ALLOW_HTTP=true   AWS_REGION=us-east-1
#   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY   (test-only credentials, checked with SigV4)
#   KEEL_TEST_S3_BUCKET=<bucket>           (a directory under the server's root)
#
# Install: `cargo install s3s-fs@0.14.1 --locked --features binary` (newer versions need a newer
# rustc), skipped when `s3s-fs` is already on PATH or in ~/.cargo/bin.
# Knobs (env): KEEL_TEST_HOME (default <repo>/.keel-test), KEEL_S3_PORT (default 19400),
# KEEL_S3_BUCKET (default keel-test).
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
export KEEL_TEST_HOME="${KEEL_TEST_HOME:-$repo/.keel-test}"
home="$KEEL_TEST_HOME/s3"
port="${KEEL_S3_PORT:-19400}"
bucket="${KEEL_S3_BUCKET:-keel-test}"
access_key="keel-test-access"
secret_key="keel-test-secret-key"
mkdir -p "$home/root/$bucket"

bin="$(command -v s3s-fs || true)"
if [ -z "$bin" ] && [ -x "$HOME/.cargo/bin/s3s-fs" ]; then bin="$HOME/.cargo/bin/s3s-fs"; fi
if [ -z "$bin" ]; then
  echo "installing s3s-fs 0.14.1 (takes a few minutes)" >&2
  cargo install s3s-fs@0.14.1 --locked --features binary
  bin="$HOME/.cargo/bin/s3s-fs"
fi

answers() { curl -s -o /dev/null -m 2 "http://127.0.0.1:$port/" ; }

pidfile="$home/s3s-fs.pid"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && answers; then
  echo "s3s-fs already running (pid $(cat "$pidfile"))" >&2
else
  "$bin" --host 127.0.0.1 --port "$port" --access-key "$access_key" --secret-key "$secret_key" \
    "$home/root" >"$home/s3s-fs.log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 100); do
    answers && break
    kill -0 "$(cat "$pidfile")" 2>/dev/null || { cat "$home/s3s-fs.log" >&2; echo "s3s-fs exited" >&2; exit 1; }
    sleep 0.1
  done
  answers || { echo "s3s-fs did not answer on port $port" >&2; exit 1; }
fi

cat >"$KEEL_TEST_HOME/s3.env" <<ENV
AWS_ENDPOINT=http://127.0.0.1:$port
AWS_ALLOW_HTTP=true
AWS_ACCESS_KEY_ID=$access_key
AWS_SECRET_ACCESS_KEY=$secret_key
AWS_REGION=us-east-1
KEEL_TEST_S3_BUCKET=$bucket
ENV
echo "s3s-fs on 127.0.0.1:$port, bucket $bucket, env in $KEEL_TEST_HOME/s3.env" >&2
