#!/usr/bin/env bash
# Regenerates tests/fixtures/kafka-broker/: log segments, indexes and checkpoints written by a
# real Apache Kafka broker (the version in tests/kafka/pom.xml).
#
# It starts its own 3-broker KRaft cluster (tests/servers/kafka-start.sh, on ports 19192-19194
# and state under .keel-test/fixture-run so it never touches the test cluster), creates two
# topics, produces into them with Kafka's own ProducerPerformance tool (several codecs,
# idempotent and transactional producers, one aborted transaction), stops the cluster cleanly so
# every checkpoint is written, and copies broker 0's (the leader's) closed segments.
#
#   tests/kafka/make-segment-fixtures.sh    # KEEL_FIXTURE_OUT=DIR writes elsewhere
#
# The output is not byte-for-byte reproducible (timestamps, producer ids, random payloads), but
# its shape is: see tests/fixtures/kafka-broker/README.md.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
out="${KEEL_FIXTURE_OUT:-$repo/tests/fixtures/kafka-broker}"
export KEEL_TEST_HOME="$repo/.keel-test/fixture-run"
export KEEL_KAFKA_PORT_BASE=19192
bootstrap="127.0.0.1:19192,127.0.0.1:19193,127.0.0.1:19194"

stop() { "$repo/tests/servers/kafka-stop.sh" || true; }
trap stop EXIT

"$repo/tests/servers/kafka-start.sh"
libs="$KEEL_TEST_HOME/kafka/libs"
log4j="file:$KEEL_TEST_HOME/kafka/run/log4j-cli.properties"
data0="$KEEL_TEST_HOME/kafka/data/node-0"

tool() { java -Xmx256m -XX:TieredStopAtLevel=1 -Dlog4j.configuration="$log4j" -cp "$libs/*" "$@"; }

create_topic() { # name, configs...
  local name="$1"; shift
  local args=()
  for c in "$@"; do args+=(--config "$c"); done
  # Replicas on brokers 0,1,2 with 0 the preferred leader: the fixture is copied from broker 0.
  tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --create \
    --topic "$name" --replica-assignment 0:1:2 "${args[@]}"
}

produce() { # topic, count, record size, extra ProducerPerformance args / producer props...
  local topic="$1" count="$2" size="$3"; shift 3
  tool org.apache.kafka.tools.ProducerPerformance --topic "$topic" --num-records "$count" \
    --record-size "$size" --throughput -1 "$@"
}

# Small batches (batch.size 2048) so that index.interval.bytes=4096 skips some of them.
props=(bootstrap.servers="$bootstrap" acks=all linger.ms=5 batch.size=2048)

# --- topic 1: keel-fixture-sparse: the default index interval, 256 KiB segments -------------
sparse=keel-fixture-sparse
create_topic "$sparse" segment.bytes=262144 index.interval.bytes=4096
produce "$sparse" 1000 100 --producer-props "${props[@]}" compression.type=none
for codec in gzip snappy lz4 zstd; do
  produce "$sparse" 1200 100 --producer-props "${props[@]}" compression.type="$codec"
done
# Committed transactions (control batches with COMMIT markers).
produce "$sparse" 1000 100 --transactional-id keel-fixture-txn --transaction-duration-ms 200 \
  --producer-props "${props[@]}" compression.type=zstd
# An aborted transaction: a transactional producer is SIGKILLed mid-transaction; a new producer
# with the same transactional.id fences it, and the coordinator writes ABORT markers (and the
# broker a .txnindex entry).
java -Xmx256m -XX:TieredStopAtLevel=1 -Dlog4j.configuration="$log4j" -cp "$libs/*" \
  org.apache.kafka.tools.ProducerPerformance --topic "$sparse" --num-records 100000 --record-size 100 \
  --throughput 300 --transactional-id keel-fixture-abort --transaction-duration-ms 600000 \
  --producer-props "${props[@]}" compression.type=none &
victim=$!
sleep 4
kill -KILL "$victim" 2>/dev/null || true
wait "$victim" 2>/dev/null || true
produce "$sparse" 500 100 --transactional-id keel-fixture-abort --transaction-duration-ms 200 \
  --producer-props "${props[@]}" compression.type=snappy
# Enough after the abort to roll the segment holding the ABORT marker and its .txnindex.
produce "$sparse" 2500 100 --producer-props "${props[@]}" compression.type=none

# --- topic 2: keel-fixture-dense: a small index interval, LogAppendTime timestamps ------------
dense=keel-fixture-dense
create_topic "$dense" segment.bytes=131072 index.interval.bytes=512 message.timestamp.type=LogAppendTime
dense_props=(bootstrap.servers="$bootstrap" acks=all linger.ms=5 batch.size=4096)
produce "$dense" 1200 120 --producer-props "${dense_props[@]}" compression.type=none
produce "$dense" 2000 120 --producer-props "${dense_props[@]}" compression.type=gzip

# Let the replicas catch up, then stop cleanly: a clean shutdown writes the log-dir checkpoints
# (replication-offset-checkpoint, recovery-point-offset-checkpoint, log-start-offset-checkpoint).
sleep 6
stop
trap - EXIT

rm -rf "$out/$sparse-0" "$out/$dense-0" "$out/log-dir"
mkdir -p "$out/log-dir"
for f in replication-offset-checkpoint recovery-point-offset-checkpoint log-start-offset-checkpoint meta.properties; do
  cp "$data0/$f" "$out/log-dir/$f"
done
for t in "$sparse" "$dense"; do
  src="$data0/$t-0"
  dst="$out/$t-0"
  mkdir -p "$dst"
  cp "$src/leader-epoch-checkpoint" "$src/partition.metadata" "$dst/"
  # Every segment with its indexes: the closed ones, and the last one, which was the active
  # segment until the clean shutdown (which trimmed its preallocated indexes).
  for ext in log index timeindex txnindex; do
    cp "$src"/*."$ext" "$dst/" 2>/dev/null || true
  done
  # Producer-state snapshots are named after the offset they were taken at (a segment roll).
  cp "$src"/*.snapshot "$dst/" 2>/dev/null || true
done
ls -la "$out"/*
du -sh "$out"
