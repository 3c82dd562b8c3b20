#!/usr/bin/env bash
# Run a REAL Apache Pulsar broker (standalone: broker + one in-process bookie +
# RocksDB metadata store) from Maven Central jars, for pulsarc interop tests.
# No Docker, no binary tarball: tools/real-broker/pom.xml resolves the jars into
# ~/.m2 and this script starts org.apache.pulsar.PulsarStandaloneStarter in its
# own JVM, bound to 127.0.0.1 on free ports.
#
# Usage:
#   pulsar-broker.sh fetch                 resolve jars + write classpath file
#   pulsar-broker.sh start DIR             fresh broker (wipes DIR/data); prints service URL
#   pulsar-broker.sh stop DIR              SIGTERM, SIGKILL after a grace period
#   pulsar-broker.sh restart DIR [--kill]  same data dir, same ports (--kill: SIGKILL first)
#   pulsar-broker.sh dedup DIR on|off      namespace deduplication on public/default (REST)
#   pulsar-broker.sh status DIR            exit 0 if running and answering
#
# After `start`, DIR/env holds shell-sourceable lines:
#   PULSAR_SERVICE_URL=pulsar://127.0.0.1:PORT   PULSAR_WEB_URL=http://127.0.0.1:PORT
#   PULSAR_PID=...  PULSAR_BROKER_PORT=...  PULSAR_WEB_PORT=...  PULSAR_BOOKIE_PORT=...
#   PULSAR_DIR=...  PULSAR_LOG=...  PULSAR_VERSION=...
#
# Environment knobs:
#   PULSARC_CACHE          cache dir for classpath/settings (default ~/.cache/pulsarc)
#   PULSARC_M2_REPO        alternative local Maven repository (default: Maven's ~/.m2)
#   PULSARC_MAVEN_SETTINGS use this settings.xml instead of the generated
#                          "everything via Maven Central" one
#   PULSARC_JAVA           java binary for the broker (default $JAVA_HOME/bin/java or java; >= 17)
#   PULSAR_HEAP            heap/direct memory flags (default -Xms128m -Xmx512m -XX:MaxDirectMemorySize=512m)
#   PULSAR_START_TIMEOUT   seconds to wait for readiness (default 30: ~3-4x the measured
#                          4.4-8.1 s startup on a 2-core box)
#   PULSAR_STOP_GRACE      seconds between SIGTERM and SIGKILL (default 15; SIGTERM
#                          shutdown measured 2-3 s)
#   PULSAR_CONF_EXTRA      extra standalone.conf lines (key=value, newline separated);
#                          each replaces the generated line with the same key,
#                          e.g. brokerDeduplicationEnabled=true
#   PULSAR_JOURNAL_SYNC    true => bookie fsyncs the journal before acking (default false)
#   PULSAR_ADMIN_TOKEN     bearer token for the readiness probe and REST calls, for
#                          brokers started with authenticationEnabled=true (TLS ports,
#                          e.g. brokerServicePortTls, also come via PULSAR_CONF_EXTRA)
#
# Durability / SIGKILL (verified with Pulsar 4.0.7): the standalone loads the
# bookie's ServerConfiguration from standalone.conf and hands it to BKCluster
# as its base configuration, so BKCluster's own test defaults
# (journalWriteData=false) are NOT applied and the key in standalone.conf
# decides. This script sets journalWriteData=true: acknowledged entries are in
# the journal (written to the OS before the ack) and are replayed on restart.
# Measured: 3000 acked messages, then `restart --kill` -> 3000/3000 readable;
# the same with journalWriteData=false -> 0/3000 (DbLedgerStorage write cache
# lost). journalSyncData=false (no fsync) only matters for a machine crash.
#
# Version notes: pulsar-broker 4.0.7 (newest 4.0.x LTS that resolves here).
# 4.0.8 fails: org.apache.pulsar:jetcd-core-shaded:4.0.8 is missing from the
# reachable Maven Central (404), needed via pulsar-metadata.
#
# Entry REST endpoint (GET $PULSAR_WEB_URL/admin/v2/persistent/public/default/
# TOPIC/ledger/L/entry/E) works; the body is the UNCOMPRESSED payload (whole
# batch for batched entries) and the stored metadata is in X-Pulsar-* headers;
# see tools/interop/smoke.py.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$SCRIPT_DIR/pom.xml"
CACHE="${PULSARC_CACHE:-$HOME/.cache/pulsarc}/real-broker"
MAIN_CLASS=org.apache.pulsar.PulsarStandaloneStarter

log() { echo "pulsar-broker: $*" >&2; }
die() { log "error: $*"; exit 1; }

retry() {  # retry N cmd...
  local n="$1" i=1; shift
  until "$@"; do
    if (( i >= n )); then log "giving up after $n attempts: $*"; return 1; fi
    log "attempt $i/$n failed, retrying in $((i * 10))s"
    sleep $((i * 10)); i=$((i + 1))
  done
}

apt_install() {  # best effort on a fresh Debian/Ubuntu machine
  if ! command -v apt-get >/dev/null 2>&1 || [[ "$(id -u)" != 0 ]]; then
    die "missing $*; install it (no apt-get/root here)"
  fi
  export DEBIAN_FRONTEND=noninteractive
  log "installing $* via apt-get"
  retry 3 apt-get update -qq >&2
  retry 3 apt-get install -y -qq --no-install-recommends "$@" >&2
}

pulsar_version() {
  sed -n 's:.*<pulsar.version>\(.*\)</pulsar.version>.*:\1:p' "$POM" | head -1
}
VERSION="$(pulsar_version)"
CP_FILE="$CACHE/pulsar-broker-$VERSION.classpath"

need_curl() { command -v curl >/dev/null 2>&1 || apt_install curl ca-certificates; }

java_major() {  # prints major version of java binary $1
  "$1" -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p' | head -1
}

find_java() {
  local j="${PULSARC_JAVA:-}"
  if [[ -z "$j" && -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then j="$JAVA_HOME/bin/java"; fi
  if [[ -z "$j" ]] && command -v java >/dev/null 2>&1; then j="$(command -v java)"; fi
  if [[ -z "$j" ]]; then apt_install openjdk-17-jre-headless; j="$(command -v java)"; fi
  local m; m="$(java_major "$j")"
  [[ -n "$m" && "$m" -ge 17 ]] || die "$j is Java '$m'; Pulsar $VERSION needs Java >= 17 (set PULSARC_JAVA)"
  echo "$j"
}

# ---------------------------------------------------------------- fetch
classpath_ok() {
  [[ -s "$CP_FILE" && "$CP_FILE" -nt "$POM" ]] || return 1
  local jar
  while IFS= read -r jar; do [[ -f "$jar" ]] || return 1; done < <(tr ':' '\n' < "$CP_FILE")
}

cmd_fetch() {
  if classpath_ok; then log "classpath cached: $CP_FILE"; return 0; fi
  command -v mvn >/dev/null 2>&1 || apt_install maven
  mkdir -p "$CACHE"
  local settings="${PULSARC_MAVEN_SETTINGS:-}"
  if [[ -z "$settings" ]]; then
    # Pulsar's parent pom declares extra repositories (confluent, restlet) that
    # are unreachable here; route every repository to Maven Central.
    settings="$CACHE/maven-settings.xml"
    cat > "$settings" <<'XML'
<settings>
  <mirrors>
    <mirror>
      <id>central-only</id>
      <mirrorOf>*</mirrorOf>
      <url>https://repo.maven.apache.org/maven2</url>
    </mirror>
  </mirrors>
</settings>
XML
  fi
  local args=(-B -q -f "$POM" -s "$settings"
    -Dmaven.wagon.http.retryHandler.count=5
    -Dmaven.wagon.http.retryHandler.requestSentEnabled=true
    -Dmaven.wagon.httpconnectionManager.ttlSeconds=120
    -Dhttp.keepAlive=false
    "-Dclasspath.file=$CP_FILE.tmp")
  [[ -n "${PULSARC_M2_REPO:-}" ]] && args+=("-Dmaven.repo.local=$PULSARC_M2_REPO")
  log "resolving org.apache.pulsar:pulsar-broker:$VERSION (Maven Central) ..."
  local t0=$SECONDS
  # build-classpath writes into the project's target/ by default; we point it
  # at the cache and remove target/ so nothing lands in the repo.
  retry 4 mvn "${args[@]}" dependency:build-classpath >&2
  rm -rf "$SCRIPT_DIR/target"
  mv -f "$CP_FILE.tmp" "$CP_FILE"
  classpath_ok || die "classpath written but some jars are missing"
  log "fetched in $((SECONDS - t0))s: $(tr ':' '\n' < "$CP_FILE" | wc -l) jars -> $CP_FILE"
}

# ---------------------------------------------------------------- helpers
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_port() {  # random free port below the kernel's ephemeral range, not in "$@"
  # A port inside the ephemeral range can be taken as the local port of an
  # outgoing connection (the broker's own, to its bookie) between this
  # check and the broker's bind: CI once failed with "Address already in
  # use" on such a port. So pick from 20000 up to the range's start.
  local p i lo=20000 hi=32767 eph
  eph=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [[ "$eph" =~ ^[0-9]+$ ]] && (( eph - 1 < hi )) && hi=$(( eph - 1 ))
  (( hi - lo < 2000 )) && { lo=20000; hi=59999; }  # an unusual range: as before
  for i in $(seq 1 200); do
    p=$(( lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1) ))
    [[ " $* " == *" $p "* ]] && continue
    port_in_use "$p" && continue
    echo "$p"; return 0
  done
  die "no free port found"
}

abs_dir() { mkdir -p "$1" && (cd "$1" && pwd); }

read_var() {  # read_var FILE NAME
  [[ -f "$1" ]] || return 0
  sed -n "s/^$2=//p" "$1" | tail -1
}

pid_alive() {  # our broker JVM with this pid?
  [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null &&
    tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -q "$MAIN_CLASS"
}

http_code() {  # http_code URL [curl args...]
  local url="$1"; shift
  # With authenticationEnabled the admin API wants a token (PULSAR_ADMIN_TOKEN).
  local auth=()
  [[ -n "${PULSAR_ADMIN_TOKEN:-}" ]] && auth=(-H "Authorization: Bearer $PULSAR_ADMIN_TOKEN")
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 "${auth[@]}" "$@" "$url" 2>/dev/null || true
}

write_conf() {  # write_conf DIR BROKER_PORT WEB_PORT
  local d="$1" bport="$2" wport="$3"
  mkdir -p "$d/conf" "$d/logs"
  cat > "$d/conf/standalone.conf" <<EOF
# Generated by pulsarc tools/real-broker/pulsar-broker.sh (Pulsar $VERSION).
# Read twice: as the broker's ServiceConfiguration and as the bookie's
# BookKeeper ServerConfiguration (unknown keys are ignored by each).

### broker
clusterName=standalone
bindAddress=127.0.0.1
advertisedAddress=127.0.0.1
brokerServicePort=$bport
webServicePort=$wport
# metadataStoreUrl left empty: the standalone uses rocksdb://DIR/data/metadata
metadataStoreUrl=
configurationMetadataStoreUrl=
functionsWorkerEnabled=false
webSocketServiceEnabled=false
transactionCoordinatorEnabled=false
authenticationEnabled=false
authorizationEnabled=false
superUserRoles=
statusFilePath=
loadManagerClassName=org.apache.pulsar.broker.loadbalance.NoopLoadManager
loadBalancerEnabled=false
managedLedgerDefaultEnsembleSize=1
managedLedgerDefaultWriteQuorum=1
managedLedgerDefaultAckQuorum=1
managedLedgerCacheSizeMB=32
# topics: created on first use, never garbage collected, data kept
allowAutoTopicCreation=true
allowAutoTopicCreationType=non-partitioned
defaultNumPartitions=1
brokerDeleteInactiveTopicsEnabled=false
defaultRetentionTimeInMinutes=-1
defaultRetentionSizeInMB=-1
systemTopicEnabled=true
topicLevelPoliciesEnabled=true
# deduplication broker-wide is not dynamic; per namespace: "dedup DIR on"
brokerDeduplicationEnabled=false
# delayed delivery: deliver exactly at deliverAt (not up to a tick early)
delayedDeliveryEnabled=true
isDelayedDeliveryDeliverAtTimeStrict=true
delayedDeliveryTickTimeMillis=100
# maxMessageSize: default (5 MiB); bookie frame size below must stay above it
maxMessageSize=5242880
brokerShutdownTimeoutMs=3000
# small machine
numIOThreads=2
numHttpServerThreads=8
numExecutorThreadPoolSize=2
numOrderedExecutorThreads=2
numCacheExecutorThreadPoolSize=1
bookkeeperClientNumWorkerThreads=2

### bookie (in-process, one); advertisedAddress=127.0.0.1 above applies too
listeningInterface=lo
allowLoopback=true
# honour --bookkeeper-port (otherwise BKCluster picks a random port; on a
# restart it re-reads the port from the bookie cookie)
allowEphemeralPorts=true
httpServerEnabled=false
ledgerStorageClass=org.apache.bookkeeper.bookie.storage.ldb.DbLedgerStorage
dbStorage_writeCacheMaxSizeMb=32
dbStorage_readAheadCacheMaxSizeMb=32
dbStorage_rocksDB_blockCacheSize=16777216
# journal entry data (not only metadata) so a SIGKILLed bookie replays
# acknowledged entries on restart; see header of pulsar-broker.sh
journalWriteData=true
journalSyncData=${PULSAR_JOURNAL_SYNC:-false}
nettyMaxFrameSizeBytes=5253120
diskUsageThreshold=0.99
diskUsageWarnThreshold=0.99
EOF
  if [[ -n "${PULSAR_CONF_EXTRA:-}" ]]; then
    # Replace, never duplicate, a key: the bookie reads this file with
    # commons-configuration, which turns a repeated key into a list and then
    # uses the FIRST value (the broker's java.util.Properties uses the last).
    local line key tmp="$d/conf/standalone.conf.tmp"
    printf '\n### PULSAR_CONF_EXTRA\n' >> "$d/conf/standalone.conf"
    while IFS= read -r line; do
      line="${line#"${line%%[![:space:]]*}"}"
      [[ -z "$line" || "$line" == \#* ]] && continue
      [[ "$line" == *=* ]] || die "PULSAR_CONF_EXTRA line without '=': $line"
      key="${line%%=*}"
      awk -v k="$key" 'index($0, k "=") != 1' "$d/conf/standalone.conf" > "$tmp"
      echo "$line" >> "$tmp"
      mv -f "$tmp" "$d/conf/standalone.conf"
    done <<< "$PULSAR_CONF_EXTRA"
  fi
  cat > "$d/conf/log4j2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN" shutdownHook="disable">
  <Appenders>
    <File name="file" fileName="$d/logs/pulsar.log" append="true">
      <PatternLayout pattern="%d{ISO8601} [%t] %-5level %c{1.} - %msg%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Logger name="org.eclipse.jetty" level="warn"/>
    <Logger name="org.apache.bookkeeper.proto" level="warn"/>
    <Root level="${PULSAR_LOG_LEVEL:-info}"><AppenderRef ref="file"/></Root>
  </Loggers>
</Configuration>
EOF
}

launch() {  # launch DIR -> starts JVM, waits for readiness, writes env
  local d="$1" java; java="$(find_java)"
  local bport wport kport
  bport="$(read_var "$d/ports" BROKER_PORT)"; wport="$(read_var "$d/ports" WEB_PORT)"
  kport="$(read_var "$d/ports" BOOKIE_PORT)"
  local p; for p in "$bport" "$wport" "$kport"; do
    port_in_use "$p" && die "port $p (from $d/ports) is in use"
  done
  # shellcheck disable=SC2206
  local heap=(${PULSAR_HEAP:--Xms128m -Xmx512m -XX:MaxDirectMemorySize=512m})
  local jvm=("${heap[@]}"
    -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError
    -Djava.net.preferIPv4Stack=true
    -Dio.netty.tryReflectionSetAccessible=true
    -Djava.io.tmpdir="$d/tmp"
    -Dpulsar.allocator.exit_on_oom=true
    -Dlog4j2.configurationFile="$d/conf/log4j2.xml"
    -Dlog4j.shutdownHookEnabled=false
    -Dbookkeeper.metadata.bookie.drivers=org.apache.pulsar.metadata.bookkeeper.PulsarMetadataBookieDriver
    -Dbookkeeper.metadata.client.drivers=org.apache.pulsar.metadata.bookkeeper.PulsarMetadataClientDriver
    --add-opens java.base/java.io=ALL-UNNAMED
    --add-opens java.base/java.util.zip=ALL-UNNAMED
    --add-opens java.base/java.nio=ALL-UNNAMED
    --add-opens java.base/jdk.internal.misc=ALL-UNNAMED
    --add-opens java.base/sun.net=ALL-UNNAMED
    --add-opens java.base/java.lang=ALL-UNNAMED
    --add-opens java.base/java.util=ALL-UNNAMED
    --add-opens java.management/sun.management=ALL-UNNAMED
    --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED)
  local args=(--config "$d/conf/standalone.conf" --no-functions-worker --no-stream-storage
    --advertised-address 127.0.0.1 --bookkeeper-port "$kport"
    --metadata-dir "$d/data/metadata" --bookkeeper-dir "$d/data/bookkeeper")
  mkdir -p "$d/tmp" "$d/logs" "$d/data"
  echo "=== start $(date -u +%FT%TZ) $java ${jvm[*]} -cp <classpath> $MAIN_CLASS ${args[*]}" >> "$d/logs/stdout.log"
  local t0; t0=$(date +%s.%N)
  local setsid=(); command -v setsid >/dev/null 2>&1 && setsid=(setsid)
  ( cd "$d" && exec "${setsid[@]}" "$java" "${jvm[@]}" -cp "$(cat "$CP_FILE")" "$MAIN_CLASS" "${args[@]}" \
      < /dev/null >> "$d/logs/stdout.log" 2>&1 ) &
  local pid=$!
  echo "$pid" > "$d/pid"
  local web="http://127.0.0.1:$wport" svc="pulsar://127.0.0.1:$bport"
  local timeout="${PULSAR_START_TIMEOUT:-30}" code=""
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null || true
      log "broker JVM exited during startup; last log lines:"
      tail -n 40 "$d/logs/pulsar.log" "$d/logs/stdout.log" >&2 2>/dev/null || true
      rm -f "$d/pid"; exit 1
    fi
    code="$(http_code "$web/admin/v2/namespaces/public/default")"
    [[ "$code" == 200 ]] && break
    if (( $(date +%s) - ${t0%.*} > timeout )); then
      log "broker not ready after ${timeout}s (last HTTP code '$code'); last log lines:"
      tail -n 40 "$d/logs/pulsar.log" >&2 2>/dev/null || true
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$d/pid"; exit 1
    fi
    sleep 0.5
  done
  local took; took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  cat > "$d/env" <<EOF
PULSAR_SERVICE_URL=$svc
PULSAR_WEB_URL=$web
PULSAR_PID=$pid
PULSAR_BROKER_PORT=$bport
PULSAR_WEB_PORT=$wport
PULSAR_BOOKIE_PORT=$kport
PULSAR_DIR=$d
PULSAR_LOG=$d/logs/pulsar.log
PULSAR_VERSION=$VERSION
EOF
  log "Pulsar $VERSION ready in ${took}s (pid $pid, web $web, log $d/logs/pulsar.log)"
  echo "$svc"
}

# ---------------------------------------------------------------- commands
cmd_start() {
  local d; d="$(abs_dir "${1:?usage: start DIR}")"
  local old; old="$(read_var "$d/env" PULSAR_PID)"
  [[ -f "$d/pid" ]] && old="$(cat "$d/pid")"
  pid_alive "$old" && die "a broker is already running from $d (pid $old); stop it first"
  need_curl
  cmd_fetch
  rm -rf "$d/data" "$d/tmp" "$d/env" "$d/pid"
  local b w k
  b="$(pick_port)"; w="$(pick_port "$b")"; k="$(pick_port "$b" "$w")"
  printf 'BROKER_PORT=%s\nWEB_PORT=%s\nBOOKIE_PORT=%s\n' "$b" "$w" "$k" > "$d/ports"
  write_conf "$d" "$b" "$w"
  launch "$d"
}

stop_pid() {  # stop_pid DIR SIGNAL
  local d="$1" sig="$2" pid=""
  [[ -f "$d/pid" ]] && pid="$(cat "$d/pid")"
  [[ -z "$pid" ]] && pid="$(read_var "$d/env" PULSAR_PID)"
  if ! pid_alive "$pid"; then log "no running broker for $d"; rm -f "$d/pid"; return 0; fi
  local t0; t0=$(date +%s.%N)
  kill "-$sig" "$pid" 2>/dev/null || true
  local grace="${PULSAR_STOP_GRACE:-15}" i=0
  while kill -0 "$pid" 2>/dev/null; do
    if (( i >= grace * 10 )); then
      log "pid $pid still alive after ${grace}s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.1; i=$((i + 1))
  done
  local took; took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  log "stopped pid $pid with SIG$sig in ${took}s"
  rm -f "$d/pid"
}

cmd_stop() {
  local d; d="$(abs_dir "${1:?usage: stop DIR}")"
  stop_pid "$d" TERM
}

cmd_restart() {
  local d; d="$(abs_dir "${1:?usage: restart DIR [--kill]}")"
  local sig=TERM
  case "${2:-}" in
    "") ;; --kill) sig=KILL ;; *) die "usage: restart DIR [--kill]" ;;
  esac
  [[ -f "$d/ports" && -f "$d/conf/standalone.conf" ]] || die "$d was never started (no ports/conf)"
  need_curl
  cmd_fetch
  stop_pid "$d" "$sig"
  # the OS may need a moment to release the listening ports
  local p i
  # shellcheck disable=SC2013  # one port number per line
  for p in $(sed -n 's/^[A-Z_]*=//p' "$d/ports"); do
    for i in $(seq 1 100); do port_in_use "$p" || break; sleep 0.1; done
  done
  launch "$d"
}

cmd_dedup() {
  local d; d="$(abs_dir "${1:?usage: dedup DIR on|off}")"
  local v
  case "${2:-}" in on|true) v=true ;; off|false) v=false ;; *) die "usage: dedup DIR on|off" ;; esac
  need_curl
  local web; web="$(read_var "$d/env" PULSAR_WEB_URL)"; [[ -n "$web" ]] || die "no $d/env"
  local url="$web/admin/v2/namespaces/public/default/deduplication" code
  code="$(http_code "$url" -X POST -H 'Content-Type: application/json' -d "$v")"
  [[ "$code" == 204 || "$code" == 200 ]] || die "POST $url -> HTTP $code"
  local got; got="$(curl -sf --max-time 10 "$url" || true)"
  [[ "$got" == "$v" ]] || die "deduplication reads back '$got', wanted $v"
  log "deduplication on public/default: $v"
}

cmd_status() {
  local d; d="$(abs_dir "${1:?usage: status DIR}")"
  local pid="" web; [[ -f "$d/pid" ]] && pid="$(cat "$d/pid")"
  web="$(read_var "$d/env" PULSAR_WEB_URL)"
  pid_alive "$pid" || { echo "stopped"; return 1; }
  need_curl
  [[ "$(http_code "$web/admin/v2/brokers/ready")" == 200 ]] || { echo "not ready (pid $pid)"; return 1; }
  echo "running (pid $pid) $(read_var "$d/env" PULSAR_SERVICE_URL)"
}

case "${1:-}" in
  fetch)   shift; cmd_fetch "$@" ;;
  start)   shift; cmd_start "$@" ;;
  stop)    shift; cmd_stop "$@" ;;
  restart) shift; cmd_restart "$@" ;;
  dedup)   shift; cmd_dedup "$@" ;;
  status)  shift; cmd_status "$@" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
