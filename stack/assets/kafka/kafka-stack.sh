#!/usr/bin/env bash
# Run Kafka 4.1.2 (KRaft, combined) + Kafka Connect 4.1.2 (distributed) + Debezium
# Postgres 3.5.2.Final as plain java processes. All runtime state lives in STATE_DIR.
#
#   kafka-stack.sh fetch          # mvn: libs/ + plugins/ into STATE_DIR
#   kafka-stack.sh render         # templates -> STATE_DIR/config/
#   kafka-stack.sh format         # KRaft storage format (once; skipped if already formatted)
#   kafka-stack.sh start-kafka    # start broker, wait until ready
#   kafka-stack.sh start-connect  # start Connect, wait until REST answers
#   kafka-stack.sh up             # all of the above
#   kafka-stack.sh consume TOPIC [extra ConsoleConsumer args]
#   kafka-stack.sh stop           # stop connect, then kafka (pid files)
#
# Env: STATE_DIR (/tmp/kafka-research) KAFKA_PORT (9092) CONTROLLER_PORT (9093)
#      CONNECT_PORT (8083) KAFKA_HEAP (-Xmx512m -Xms256m) CONNECT_HEAP (-Xmx512m)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE_DIR="${STATE_DIR:-/tmp/kafka-research}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${CONTROLLER_PORT:-9093}"
CONNECT_PORT="${CONNECT_PORT:-8083}"
KAFKA_HEAP="${KAFKA_HEAP:--Xmx512m -Xms256m}"
CONNECT_HEAP="${CONNECT_HEAP:--Xmx512m}"
CONF="$STATE_DIR/config"
LOGS="$STATE_DIR/logs"
CP="$STATE_DIR/libs/*"
JAVA="${JAVA:-java}"

log() { echo "[kafka-stack] $*" >&2; }

fetch() {
  mvn -q -f "$HERE/pom.xml" -Dstate.dir="$STATE_DIR" generate-resources
}

render() {
  mkdir -p "$CONF" "$LOGS"
  local f
  for f in server.properties worker.properties; do
    sed -e "s#{{STATE_DIR}}#$STATE_DIR#g" \
        -e "s#{{KAFKA_PORT}}#$KAFKA_PORT#g" \
        -e "s#{{CONTROLLER_PORT}}#$CONTROLLER_PORT#g" \
        -e "s#{{CONNECT_PORT}}#$CONNECT_PORT#g" \
        "$HERE/$f" > "$CONF/$f"
  done
  cp "$HERE/log4j2.xml" "$HERE/log4j2-tools.xml" "$CONF/"
}

format() {
  if [[ -f "$STATE_DIR/kafka-data/meta.properties" ]]; then
    log "storage already formatted"; return 0
  fi
  local id
  id="$("$JAVA" -cp "$CP" -Dlog4j2.configurationFile="$CONF/log4j2-tools.xml" kafka.tools.StorageTool random-uuid)"
  "$JAVA" -cp "$CP" -Dlog4j2.configurationFile="$CONF/log4j2-tools.xml" \
    kafka.tools.StorageTool format --standalone -t "$id" -c "$CONF/server.properties"
}

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_kafka() {
  if alive "$STATE_DIR/kafka.pid"; then log "kafka already running"; return 0; fi
  local t0=$(date +%s.%N)
  # log file is truncated per start so the readiness grep only sees this run
  : > "$LOGS/server.log"
  nohup "$JAVA" $KAFKA_HEAP -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$CONF/log4j2.xml" -Dkafka.logs.dir="$LOGS" -Dkafka.log.name=server \
    -cp "$CP" kafka.Kafka "$CONF/server.properties" > "$LOGS/kafka.out" 2>&1 &
  echo $! > "$STATE_DIR/kafka.pid"
  for _ in $(seq 1 600); do
    if grep -q "Kafka Server started" "$LOGS/server.log" 2>/dev/null; then
      log "kafka ready (pid $(cat "$STATE_DIR/kafka.pid")) in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"; return 0
    fi
    alive "$STATE_DIR/kafka.pid" || { log "kafka died, see $LOGS"; tail -20 "$LOGS/kafka.out" >&2; return 1; }
    sleep 0.1
  done
  log "kafka not ready after 60 s"; return 1
}

start_connect() {
  if alive "$STATE_DIR/connect.pid"; then log "connect already running"; return 0; fi
  local t0=$(date +%s.%N)
  nohup "$JAVA" $CONNECT_HEAP -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$CONF/log4j2.xml" -Dkafka.logs.dir="$LOGS" -Dkafka.log.name=connect \
    -cp "$CP" org.apache.kafka.connect.cli.ConnectDistributed "$CONF/worker.properties" > "$LOGS/connect.out" 2>&1 &
  echo $! > "$STATE_DIR/connect.pid"
  for _ in $(seq 1 1200); do
    if curl -fsS "http://127.0.0.1:$CONNECT_PORT/connectors" >/dev/null 2>&1; then
      log "connect REST ready (pid $(cat "$STATE_DIR/connect.pid")) in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"; return 0
    fi
    alive "$STATE_DIR/connect.pid" || { log "connect died, see $LOGS"; tail -20 "$LOGS/connect.out" >&2; return 1; }
    sleep 0.1
  done
  log "connect not ready after 120 s"; return 1
}

consume() {
  local topic="$1"; shift
  "$JAVA" -Xmx256m -cp "$CP" -Dlog4j2.configurationFile="$CONF/log4j2-tools.xml" \
    org.apache.kafka.tools.consumer.ConsoleConsumer \
    --bootstrap-server "127.0.0.1:$KAFKA_PORT" --topic "$topic" --from-beginning \
    --property print.key=true --property key.separator=' | ' "$@"
}

stop_one() {
  local pidf="$STATE_DIR/$1.pid"
  if alive "$pidf"; then
    local pid; pid="$(cat "$pidf")"
    kill "$pid"
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then log "$1 did not stop in 30 s, killing"; kill -9 "$pid"; fi
    log "$1 stopped"
  fi
  rm -f "$pidf"
}

case "${1:-}" in
  fetch) fetch ;;
  render) render ;;
  format) format ;;
  start-kafka) start_kafka ;;
  start-connect) start_connect ;;
  up) [[ -d "$STATE_DIR/libs" ]] || fetch; render; format; start_kafka; start_connect ;;
  consume) shift; consume "$@" ;;
  stop) stop_one connect; stop_one kafka ;;
  *) sed -n '2,16p' "$0"; exit 2 ;;
esac
