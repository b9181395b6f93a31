#!/usr/bin/env bash
# Run Neo4j 5.26 Community (+ Browser + APOC core) as a plain java process, assembled from Maven Central.
#
#   neo4j-local.sh fetch            # mvn: server jars -> $STATE/lib, APOC -> $STATE/plugins
#   neo4j-local.sh init             # render conf/neo4j.conf, set initial password (before first start only)
#   neo4j-local.sh start            # start in background, wait until Bolt+HTTP answer an authenticated RETURN 1
#   neo4j-local.sh stop             # SIGTERM (clean shutdown), wait for exit
#   neo4j-local.sh status | health  # pid / authenticated health query
#   neo4j-local.sh cmd              # print the java command line
#
# Environment (all optional):
#   NEO4J_STATE_DIR  runtime state (lib, plugins, conf, data, logs, run)   default /tmp/neo4j-research/home
#   NEO4J_PASSWORD   password of user 'neo4j' (min 8 chars)                 default fraudgraph-dev
#   NEO4J_BOLT_PORT  default 7687      NEO4J_HTTP_PORT  default 7474
#   NEO4J_HEAP       default 512m (-Xmx; -Xms is fixed at 256m or HEAP if smaller)
#   NEO4J_PAGECACHE  default 128m
#   JAVA             default java (17 or 21)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${NEO4J_STATE_DIR:-/tmp/neo4j-research/home}"
PASSWORD="${NEO4J_PASSWORD:-fraudgraph-dev}"
BOLT_PORT="${NEO4J_BOLT_PORT:-7687}"
HTTP_PORT="${NEO4J_HTTP_PORT:-7474}"
HEAP="${NEO4J_HEAP:-512m}"
PAGECACHE="${NEO4J_PAGECACHE:-128m}"
JAVA="${JAVA:-java}"
PIDFILE="$STATE/run/neo4j.pid"

java_args() {  # fills the JAVA_ARGS array
  local xms=256m
  case "$HEAP" in 64m|128m|192m) xms="$HEAP" ;; esac
  JAVA_ARGS=("$JAVA" -Xms"$xms" -Xmx"$HEAP"
    -XX:+UseG1GC -XX:-OmitStackTraceInFastThrow
    -XX:+UnlockExperimentalVMOptions -XX:+TrustFinalNonStaticFields -XX:+DisableExplicitGC
    -Djdk.nio.maxCachedBufferSize=1024 -Dio.netty.tryReflectionSetAccessible=true
    -Djdk.tls.ephemeralDHKeySize=2048 -Djdk.tls.rejectClientInitiatedRenegotiation=true
    --add-opens=java.base/java.nio=ALL-UNNAMED
    --add-opens=java.base/java.io=ALL-UNNAMED
    --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
    -Dlog4j2.disable.jmx=true -Dfile.encoding=UTF-8
    -cp "$STATE/plugins/*:$STATE/conf/*:$STATE/lib/*"
    org.neo4j.server.CommunityEntryPoint
    --home-dir="$STATE" --config-dir="$STATE/conf" --console-mode)
}

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

health() {  # authenticated Cypher over the HTTP Query API: proves auth + default database online
  curl -fsS -m 5 -u "neo4j:$PASSWORD" -H 'Content-Type: application/json' \
    -d '{"statement":"RETURN 1 AS ok"}' "http://127.0.0.1:$HTTP_PORT/db/neo4j/query/v2" >/dev/null 2>&1
}

bolt_open() { (exec 3<>"/dev/tcp/127.0.0.1/$BOLT_PORT") 2>/dev/null; }

case "${1:-}" in
  fetch)
    mkdir -p "$STATE/lib" "$STATE/plugins"
    mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$STATE/lib"
    mvn -q -B -f "$HERE/plugins-pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$STATE/plugins"
    echo "lib: $(ls "$STATE/lib" | wc -l) jars, $(du -sh "$STATE/lib" | cut -f1); plugins: $(ls "$STATE/plugins" | tr '\n' ' ')"
    ;;
  init)
    mkdir -p "$STATE"/{conf,data,logs,run,import,licenses}
    sed -e "s#{{STATE_DIR}}#$STATE#g" -e "s#{{BOLT_PORT}}#$BOLT_PORT#g" \
        -e "s#{{HTTP_PORT}}#$HTTP_PORT#g" -e "s#{{PAGECACHE}}#$PAGECACHE#g" \
        "$HERE/neo4j.conf.template" > "$STATE/conf/neo4j.conf"
    if [[ -d "$STATE/data/databases/system" ]]; then
      echo "database already initialised: password NOT changed (use ALTER CURRENT USER SET PASSWORD)" >&2
    else
      NEO4J_HOME="$STATE" NEO4J_CONF="$STATE/conf" "$JAVA" -cp "$STATE/lib/*" \
        org.neo4j.cli.AdminTool dbms set-initial-password "$PASSWORD"
    fi
    ;;
  start)
    running && { echo "already running (pid $(cat "$PIDFILE"))"; exit 0; }
    mkdir -p "$STATE/run" "$STATE/logs"
    start=$(date +%s)
    java_args
    setsid "${JAVA_ARGS[@]}" >"$STATE/logs/console.log" 2>&1 < /dev/null &
    echo $! > "$PIDFILE"
    for _ in $(seq 1 240); do
      running || { echo "neo4j exited during startup; see $STATE/logs/console.log" >&2; exit 1; }
      if bolt_open && health; then
        echo "neo4j up (pid $(cat "$PIDFILE")) after $(( $(date +%s) - start ))s: bolt://127.0.0.1:$BOLT_PORT http://127.0.0.1:$HTTP_PORT/browser/"
        exit 0
      fi
      sleep 0.5
    done
    echo "timeout waiting for neo4j; see $STATE/logs/console.log" >&2; exit 1
    ;;
  stop)
    running || { echo "not running"; rm -f "$PIDFILE"; exit 0; }
    pid=$(cat "$PIDFILE"); kill -TERM "$pid"
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; echo "stopped"; exit 0; }; sleep 0.5; done
    echo "still running after 60s: kill -KILL $pid" >&2; exit 1
    ;;
  status)
    if running; then echo "running (pid $(cat "$PIDFILE"))"; else echo "not running"; exit 3; fi
    ;;
  health)
    health && echo ok || { echo "unhealthy"; exit 1; }
    ;;
  cmd)
    java_args; printf '%q ' "${JAVA_ARGS[@]}"; echo
    ;;
  *)
    sed -n '2,20p' "$0"; exit 2
    ;;
esac
