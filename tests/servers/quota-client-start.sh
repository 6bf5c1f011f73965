#!/usr/bin/env bash
# Installs (once) a real Kafka client for keel's quota end-to-end test: PyPI's
# `confluent-kafka` (librdkafka bundled in its wheel) in a venv under $KEEL_TEST_HOME.
# Nothing is started: tests/quota_real_client.rs starts examples/quota_broker.rs in-process
# and runs tests/quota_client_produce.py against it. Writes $KEEL_TEST_HOME/quota-client.env:
#   KEEL_QUOTA_CLIENT_PYTHON=<venv python with confluent_kafka importable>
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
export KEEL_TEST_HOME="${KEEL_TEST_HOME:-$repo/.keel-test}"
venv="$KEEL_TEST_HOME/quota-client-venv"
version="2.16.1"

if ! "$venv/bin/python" -c "import confluent_kafka, sys; sys.exit(confluent_kafka.version() != '$version')" 2>/dev/null; then
  echo "quota-client-start: installing confluent-kafka $version into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "confluent-kafka==$version"
fi
"$venv/bin/python" -c "import confluent_kafka; print('quota-client-start: confluent-kafka', confluent_kafka.version(), 'librdkafka', confluent_kafka.libversion()[0])" >&2
echo "KEEL_QUOTA_CLIENT_PYTHON=$venv/bin/python" >"$KEEL_TEST_HOME/quota-client.env"
