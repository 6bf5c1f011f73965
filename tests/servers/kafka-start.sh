#!/usr/bin/env bash
# Installs (once) and starts a real Apache Kafka KRaft cluster on 127.0.0.1 for keel's tests:
#   - 1 controller-only node (node.id 100, 127.0.0.1:19099),
#   - 3 brokers, node.id 0/1/2 on 127.0.0.1:19092/19093/19094 with broker.rack r0/r1/r2.
# Then writes $KEEL_TEST_HOME/kafka.env:
#   KEEL_KAFKA_BOOTSTRAP=127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094
#   KEEL_KAFKA_LOG_DIRS=<broker 0 log dir>,<broker 1 log dir>,<broker 2 log dir>
#   KEEL_KAFKA_LIBS=<dir of the Kafka jars>   (java -cp "$KEEL_KAFKA_LIBS/*" <main class>)
#   KEEL_KAFKA_HOME=<state dir: run/node-<id>.{properties,log,pid}, run/start-node-<id>.sh>
#
# Install: `mvn dependency:copy-dependencies` on tests/kafka/pom.xml into $KEEL_TEST_HOME/kafka/libs,
# skipped when that was already done for the same pom. Each start formats fresh storage (the
# tests get an empty cluster); when the cluster from an earlier start is still up and healthy,
# the script only rewrites the env file.
#
# Knobs (env): KEEL_TEST_HOME (default <repo>/.keel-test), KEEL_KAFKA_HEAP (default -Xmx384m),
# KEEL_KAFKA_EXTRA_PROPS (extra server.properties lines, separated by ';', for every node),
# KEEL_KAFKA_START_TIMEOUT (seconds, default 240), KEEL_KAFKA_PORT_BASE (brokers on
# BASE..BASE+2, the controller on BASE+7; unset: 19092, or 19392 / 19692 when those are taken).
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
export KEEL_TEST_HOME="${KEEL_TEST_HOME:-$repo/.keel-test}"
kafka_home="$KEEL_TEST_HOME/kafka"
libs="$kafka_home/libs"
run="$kafka_home/run"
pom="$repo/tests/kafka/pom.xml"
heap="${KEEL_KAFKA_HEAP:--Xmx384m}"
timeout_s="${KEEL_KAFKA_START_TIMEOUT:-240}"

controller_id=100
broker_ids=(0 1 2)
# A fixed cluster id (base64url of 16 bytes "keel-test-cluste").
cluster_id="a2VlbC10ZXN0LWNsdXN0ZQ"

# Brokers on BASE..BASE+2, the controller on BASE+7.
use_port_base() {
  port_base="$1"
  controller_port=$((port_base + 7))
  broker_ports=("$port_base" "$((port_base + 1))" "$((port_base + 2))")
  bootstrap="$(printf '127.0.0.1:%s,' "${broker_ports[@]}")"
  bootstrap="${bootstrap%,}"
}
# The base the running cluster (if any) was started with, else the requested/default one.
use_port_base "${KEEL_KAFKA_PORT_BASE:-$(cat "$run/port-base" 2>/dev/null || echo 19092)}"

log_dirs=""
for id in "${broker_ids[@]}"; do log_dirs+="$kafka_home/data/node-$id,"; done
log_dirs="${log_dirs%,}"

say() { echo "kafka-start: $*" >&2; }
now() { date +%s; }
t0=$(now)

write_env() {
  cat >"$KEEL_TEST_HOME/kafka.env" <<EOF
KEEL_KAFKA_BOOTSTRAP=$bootstrap
KEEL_KAFKA_LOG_DIRS=$log_dirs
KEEL_KAFKA_LIBS=$libs
KEEL_KAFKA_HOME=$kafka_home
EOF
}

# ---- install -------------------------------------------------------------------------------
command -v java >/dev/null || { say "java not found (need Java 17+)"; exit 1; }
pom_sum="$(sha256sum "$pom" | cut -d' ' -f1)"
if [ "$(cat "$libs/.installed" 2>/dev/null || true)" != "$pom_sum" ]; then
  command -v mvn >/dev/null || { say "mvn not found (apt-get install maven)"; exit 1; }
  say "installing Kafka jars into $libs (mvn dependency:copy-dependencies)"
  rm -rf "$libs"
  mkdir -p "$libs"
  mvn -q -B -f "$pom" dependency:copy-dependencies -DoutputDirectory="$libs" >"$kafka_home/mvn.log" 2>&1 || {
    say "mvn failed, see $kafka_home/mvn.log:"; tail -30 "$kafka_home/mvn.log" >&2; exit 1; }
  echo "$pom_sum" >"$libs/.installed"
  say "installed in $(( $(now) - t0 ))s"
fi
t_installed=$(now)

jvm() { java $heap -Xms64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k \
  -Djava.awt.headless=true -cp "$libs/*" "$@"; }

node_ids=("$controller_id" "${broker_ids[@]}")

alive() { # pid file -> running?
  local pid
  pid="$(cat "$1" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# Counts the brokers the cluster reports as alive and ready to serve (from a Metadata
# response, via Kafka's own BrokerApiVersionsCommand).
ready_brokers() {
  jvm -Dlog4j.configuration="file:$run/log4j-cli.properties" kafka.admin.BrokerApiVersionsCommand \
    --bootstrap-server "$bootstrap" 2>/dev/null | grep -c '^127\.0\.0\.1:[0-9]* (id: ' || true
}

# ---- already running? --------------------------------------------------------------------
all_alive=1
for id in "${node_ids[@]}"; do alive "$run/node-$id.pid" || all_alive=0; done
if [ "$all_alive" = 1 ] && [ "$(ready_brokers)" = "${#broker_ids[@]}" ]; then
  say "cluster already running ($bootstrap)"
  write_env
  exit 0
fi

# ---- fresh start ---------------------------------------------------------------------------
"$repo/tests/servers/kafka-stop.sh" >/dev/null 2>&1 || true
ports_free() {
  local p
  for p in "${broker_ports[@]}" "$controller_port"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      say "port 127.0.0.1:$p is in use by a process this script did not start"
      return 1
    fi
  done
}
# An explicit KEEL_KAFKA_PORT_BASE is used as is; otherwise fall back to other ranges when
# something else (another checkout's cluster, say) holds the default ports.
if [ -n "${KEEL_KAFKA_PORT_BASE:-}" ]; then candidates=("$KEEL_KAFKA_PORT_BASE"); else candidates=(19092 19392 19692); fi
found=""
for base in "${candidates[@]}"; do
  use_port_base "$base"
  if ports_free; then found="$base"; break; fi
done
if [ -z "$found" ]; then
  say "no free port range among ${candidates[*]} (brokers BASE..BASE+2, controller BASE+7);"
  say "stop what holds them or set KEEL_KAFKA_PORT_BASE, and run again"
  exit 1
fi
rm -rf "$kafka_home/data" "$kafka_home/meta" "$run"
mkdir -p "$run" "$kafka_home/data" "$kafka_home/meta"
echo "$port_base" >"$run/port-base"

cat >"$run/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${keel.node.log}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
EOF
cat >"$run/log4j-cli.properties" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=%p %m (%c)%n
EOF

common_props() {
  cat <<EOF
controller.quorum.voters=$controller_id@127.0.0.1:$controller_port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
num.network.threads=2
num.io.threads=2
num.replica.fetchers=1
background.threads=2
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
offsets.topic.num.partitions=3
transaction.state.log.num.partitions=3
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
EOF
  if [ -n "${KEEL_KAFKA_EXTRA_PROPS:-}" ]; then tr ';' '\n' <<<"$KEEL_KAFKA_EXTRA_PROPS"; fi
}

{
  echo "process.roles=controller"
  echo "node.id=$controller_id"
  echo "listeners=CONTROLLER://127.0.0.1:$controller_port"
  echo "log.dirs=$kafka_home/meta/node-$controller_id"
  common_props
} >"$run/node-$controller_id.properties"

for i in "${!broker_ids[@]}"; do
  id="${broker_ids[$i]}"
  {
    echo "process.roles=broker"
    echo "node.id=$id"
    echo "broker.rack=r$id"
    echo "listeners=PLAINTEXT://127.0.0.1:${broker_ports[$i]}"
    echo "advertised.listeners=PLAINTEXT://127.0.0.1:${broker_ports[$i]}"
    echo "inter.broker.listener.name=PLAINTEXT"
    echo "log.dirs=$kafka_home/data/node-$id"
    echo "metadata.log.dir=$kafka_home/meta/node-$id"
    common_props
  } >"$run/node-$id.properties"
done

# Format every node's storage in one JVM per node (StorageTool exits the JVM when done).
for id in "${node_ids[@]}"; do
  jvm -Dlog4j.configuration="file:$run/log4j-cli.properties" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$run/node-$id.properties" --ignore-formatted >"$run/format-$id.log" 2>&1 || {
      say "formatting node $id failed:"; cat "$run/format-$id.log" >&2; exit 1; }
done

# One start script per node, so a test can stop a broker (kill the pid in node-<id>.pid) and
# start it again with $KEEL_KAFKA_HOME/run/start-node-<id>.sh.
for id in "${node_ids[@]}"; do
  cat >"$run/start-node-$id.sh" <<EOF
#!/usr/bin/env bash
# Starts Kafka node $id in the background (setsid: it outlives the caller) and records its pid.
setsid nohup java $heap -Xms64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k \\
  -Djava.awt.headless=true -Dkeel.node.log="$run/node-$id.log" \\
  -Dlog4j.configuration="file:$run/log4j.properties" \\
  -cp "$libs/*" kafka.Kafka "$run/node-$id.properties" >>"$run/node-$id.out" 2>&1 </dev/null &
echo \$! >"$run/node-$id.pid"
EOF
  chmod +x "$run/start-node-$id.sh"
  "$run/start-node-$id.sh"
done

deadline=$(( $(now) + timeout_s ))
ready=0
while :; do
  for id in "${node_ids[@]}"; do
    if ! alive "$run/node-$id.pid"; then
      say "node $id exited during startup; last lines of $run/node-$id.log:"
      tail -30 "$run/node-$id.log" "$run/node-$id.out" >&2 || true
      exit 1
    fi
  done
  # Cheap check first: every broker port accepts connections.
  listening=0
  for p in "${broker_ports[@]}"; do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && listening=$((listening + 1))
  done
  if [ "$listening" = "${#broker_ports[@]}" ]; then
    ready="$(ready_brokers)"
    [ "$ready" = "${#broker_ids[@]}" ] && break
  fi
  if [ "$(now)" -ge "$deadline" ]; then
    say "timed out after ${timeout_s}s: $listening/${#broker_ports[@]} broker ports listening, $ready brokers ready"
    for id in "${node_ids[@]}"; do tail -5 "$run/node-$id.log" >&2 || true; done
    exit 1
  fi
  sleep 1
done

write_env
say "3 brokers ready at $bootstrap (install/check $((t_installed - t0))s, start $(( $(now) - t_installed ))s)"
