#!/usr/bin/env bash
# Run a REAL multi-member Apache Pulsar cluster on 127.0.0.1 from Maven Central
# jars, for pulsarc's cluster tests: ZooKeeper, one bookie, two brokers and a
# Pulsar proxy, each in its own JVM, on free ports. No Docker, no tarball:
# tools/real-cluster/pom.xml lists the jars, tools/real-broker's fetch logic
# resolves them into ~/.m2.
#
# Usage:
#   pulsar-cluster.sh fetch                       resolve jars, write the classpath file
#   pulsar-cluster.sh start [--extensible-lm]     fresh cluster (wipes the state dir)
#   pulsar-cluster.sh stop [MEMBER]               SIGTERM every member, or one (SIGKILL after a grace);
#                                                 `restart MEMBER` starts a stopped one again
#   pulsar-cluster.sh kill MEMBER                 SIGKILL one member (zk|bookie|broker1|broker2|proxy)
#   pulsar-cluster.sh restart MEMBER [--kill]     stop (SIGTERM, or SIGKILL) and start again, same ports/data
#   pulsar-cluster.sh status                      one line per member; exit 0 if all are up
#   pulsar-cluster.sh unload TOPIC [BROKER]       unload a topic; with BROKER (broker1|broker2) unload
#                                                 the topic's bundle with destinationBroker=BROKER
#                                                 (a transfer; extensible load manager only)
#   pulsar-cluster.sh split-bundle NS [BUNDLE]    split BUNDLE (default: every bundle of NS) in two
#   pulsar-cluster.sh owner TOPIC                 prints "brokerN pulsar://127.0.0.1:PORT"
#   pulsar-cluster.sh dedup NS on|off             namespace deduplication
#   pulsar-cluster.sh create-partitioned TOPIC N  partitioned topic with N partitions
#   pulsar-cluster.sh admin METHOD PATH [BODY]    any admin REST call (PATH from /admin/v2/...)
# TOPIC is "persistent://tenant/ns/name" or a bare name in public/default; NS is "tenant/ns".
#
# After `start`, $PULSARC_CLUSTER_DIR/ports.env holds shell-sourceable lines:
#   ZK_PORT BOOKIE_PORT BROKER1_PORT BROKER1_WEB_PORT BROKER2_PORT BROKER2_WEB_PORT
#   PROXY_PORT PROXY_WEB_PORT PROXY_TLS_PORT, and
#   PULSAR_CLUSTER_BROKER1_URL=pulsar://127.0.0.1:P  PULSAR_CLUSTER_BROKER2_URL=...
#   PULSAR_CLUSTER_PROXY_URL=pulsar://127.0.0.1:P    PULSAR_CLUSTER_WEB_URL=http://... (broker1)
#   PULSAR_CLUSTER_PROXY_TLS_URL=pulsar+ssl://127.0.0.1:P (the proxy's TLS port)
#   PULSAR_CLUSTER_CA=FILE (the CA that signed the proxy's certificate)
#   PULSAR_CLUSTER_CLIENT_TOKEN_FILE=FILE (a valid token of role "client")
#   PULSAR_CLUSTER_SERVICE_URL=pulsar://127.0.0.1:P1,127.0.0.1:P2 (both brokers)
#   PULSAR_CLUSTER_NAME PULSAR_CLUSTER_DIR PULSAR_CLUSTER_LM PULSAR_VERSION PULSAR_PROXY_VERSION
# Each member lives in $PULSARC_CLUSTER_DIR/MEMBER/{conf,data,logs,pid}.
#
# Security: brokers and proxy verify tokens (HS256, a key made at `start`,
# roles admin, proxy, client); the proxy also listens on PROXY_TLS_PORT with a
# certificate from a CA made at `start` (secrets/ in the state dir). A client
# without a token still gets in as role "anonymous" (anonymousUserRole,
# authorization off), so the plain ports serve every other test unchanged; a
# token that does not verify is refused. The proxy forwards the client's
# credentials and authenticates itself to the brokers with the proxy token
# (proxyRoles=proxy, as Pulsar's proxy docs ask); admin calls carry the
# admin token.
#
# Environment knobs:
#   PULSARC_CLUSTER_DIR    state directory (default /tmp/pulsarc-cluster)
#   PULSARC_CACHE, PULSARC_M2_REPO, PULSARC_MAVEN_SETTINGS, PULSARC_JAVA: as tools/real-broker
#   PULSAR_CLUSTER_HEAP    heap flags per JVM (default -Xms64m -Xmx384m -XX:MaxDirectMemorySize=256m;
#                          ZooKeeper gets -Xmx128m)
#   PULSAR_CLUSTER_NICE    nice level of every JVM (default 5: the machine compiles too)
#   PULSAR_SESSION_MS      metadata session timeout of brokers and bookie (default 4000): a
#                          killed broker's topics move after about this long
#   PULSAR_START_TIMEOUT   seconds to wait for each member (default 120)
#   PULSAR_STOP_GRACE      seconds between SIGTERM and SIGKILL (default 15)
#   PULSAR_CONF_EXTRA      extra broker.conf lines (key=value, newline separated; replace
#                          the generated key), applied to both brokers
#   PULSAR_LOG_LEVEL       log4j root level (default info)
#
# Durability: the bookie journals entry data (journalWriteData=true, the
# BookKeeper default, written explicitly) and acknowledges an entry only after
# the journal write, so SIGKILL of a broker or of the bookie loses nothing
# acknowledged (journalSyncData=false: only a machine crash could).
#
# Versions: brokers, bookie and ZooKeeper come from pulsar-broker 4.0.7 (as in
# tools/real-broker); the proxy is pulsar-proxy 4.0.6 (4.0.7 is not served by
# the reachable Maven Central) on the same 4.0.7 shared modules; see pom.xml.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
RB="$ROOT/tools/real-broker/pulsar-broker.sh"

# Reuse tools/real-broker's helpers (fetch, find_java, pick_port, port_in_use,
# http_code, retry, read_var) without running its command dispatch.
[[ -f "$RB" ]] || { echo "pulsar-cluster: error: $RB missing" >&2; exit 1; }
# shellcheck disable=SC1090
source <(sed -e '/^case "\${1:-}" in/,$d' \
  -e "s|^SCRIPT_DIR=.*|SCRIPT_DIR='$ROOT/tools/real-broker'|" "$RB")
declare -F cmd_fetch pick_port find_java http_code >/dev/null ||
  { echo "pulsar-cluster: error: $RB no longer defines its helpers" >&2; exit 1; }

# point the shared fetch logic at this directory's pom
SCRIPT_DIR="$HERE"
POM="$HERE/pom.xml"
CACHE="${PULSARC_CACHE:-$HOME/.cache/pulsarc}/real-cluster"
VERSION="$(pulsar_version)"
PROXY_VERSION="$(sed -n 's:.*<pulsar.proxy.version>\(.*\)</pulsar.proxy.version>.*:\1:p' "$POM" | head -1)"
CP_FILE="$CACHE/pulsar-cluster-$VERSION.classpath"

D="${PULSARC_CLUSTER_DIR:-/tmp/pulsarc-cluster}"
PORTS="$D/ports.env"
CLUSTER=pulsarc
MEMBERS=(zk bookie broker1 broker2 proxy)
SESSION_MS="${PULSAR_SESSION_MS:-4000}"

log() { echo "pulsar-cluster: $*" >&2; }
die() { log "error: $*"; exit 1; }

main_class() {
  case "$1" in
    zk) echo org.apache.zookeeper.server.ZooKeeperServerMain ;;
    bookie) echo org.apache.bookkeeper.server.Main ;;
    broker1 | broker2) echo org.apache.pulsar.PulsarBrokerStarter ;;
    proxy) echo org.apache.pulsar.proxy.server.ProxyServiceStarter ;;
    *) die "unknown member '$1' (zk|bookie|broker1|broker2|proxy)" ;;
  esac
}

member_args() {
  local c="$D/$1/conf"
  case "$1" in
    zk) echo "$c/zoo.cfg" ;;
    bookie) echo "--conf $c/bookie.conf" ;;
    broker*) echo "--broker-conf $c/broker.conf" ;;
    proxy) echo "--config $c/proxy.conf" ;;
  esac
}

load_ports() {
  [[ -f "$PORTS" ]] || die "no $PORTS: start the cluster first"
  # shellcheck disable=SC1090
  source "$PORTS"
  # http_code (tools/real-broker) and admin_call send it
  [[ -f "$D/secrets/admin.token" ]] && PULSAR_ADMIN_TOKEN="$(cat "$D/secrets/admin.token")"
  true
}

member_pid() { [[ -f "$D/$1/pid" ]] && cat "$D/$1/pid" || true; }

member_alive() {  # our JVM for this member?
  local pid; pid="$(member_pid "$1")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null &&
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-Dpulsarc.member=$1 "
}

member_port() {  # the port whose being open means "listening"
  case "$1" in
    zk) echo "$ZK_PORT" ;; bookie) echo "$BOOKIE_PORT" ;;
    broker1) echo "$BROKER1_PORT" ;; broker2) echo "$BROKER2_PORT" ;;
    proxy) echo "$PROXY_PORT" ;;
  esac
}

member_ports() {  # every port a member binds
  case "$1" in
    zk) echo "$ZK_PORT" ;; bookie) echo "$BOOKIE_PORT" ;;
    broker1) echo "$BROKER1_PORT $BROKER1_WEB_PORT" ;;
    broker2) echo "$BROKER2_PORT $BROKER2_WEB_PORT" ;;
    proxy) echo "$PROXY_PORT $PROXY_WEB_PORT $PROXY_TLS_PORT" ;;
  esac
}

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

# ---------------------------------------------------------------- configs
log4j_conf() {  # log4j_conf MEMBER
  local m="$1"
  cat > "$D/$m/conf/log4j2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN" shutdownHook="disable">
  <Appenders>
    <File name="file" fileName="$D/$m/logs/$m.log" append="true">
      <PatternLayout pattern="%d{ISO8601} [%t] %-5level %c{1.} - %msg%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Logger name="org.eclipse.jetty" level="warn"/>
    <Logger name="org.apache.bookkeeper.proto" level="warn"/>
    <Logger name="org.apache.zookeeper" level="warn"/>
    <Root level="${PULSAR_LOG_LEVEL:-info}"><AppenderRef ref="file"/></Root>
  </Loggers>
</Configuration>
EOF
}

apply_extra() {  # apply_extra FILE: PULSAR_CONF_EXTRA lines replace generated keys
  local f="$1" line key
  [[ -n "${PULSAR_CONF_EXTRA:-}" ]] || return 0
  printf '\n### PULSAR_CONF_EXTRA\n' >> "$f"
  while IFS= read -r line; do
    line="${line#"${line%%[![:space:]]*}"}"
    [[ -z "$line" || "$line" == \#* ]] && continue
    [[ "$line" == *=* ]] || die "PULSAR_CONF_EXTRA line without '=': $line"
    key="${line%%=*}"
    awk -v k="$key" 'index($0, k "=") != 1' "$f" > "$f.tmp"
    echo "$line" >> "$f.tmp"
    mv -f "$f.tmp" "$f"
  done <<< "$PULSAR_CONF_EXTRA"
}

b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }

make_jwt() {  # make_jwt ROLE: an HS256 token signed with secrets/token.key
  local k="$D/secrets/token.key" h p
  h="$(printf '{"alg":"HS256"}' | b64url)"
  p="$(printf '{"sub":"%s"}' "$1" | b64url)"
  printf '%s.%s.%s\n' "$h" "$p" "$(printf '%s.%s' "$h" "$p" |
    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(od -An -v -tx1 "$k" | tr -d ' \n')" -binary |
    b64url)"
}

make_secrets() {  # the CA, the proxy's certificate, the token key and one token per role
  local s="$D/secrets" role
  command -v openssl >/dev/null 2>&1 || die "openssl is needed for the proxy's TLS certificate"
  mkdir -p "$s"; chmod 700 "$s"
  # the certificate recipe of tests/interop/tls_interop.py's make_certs
  ( cd "$s" &&
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
      -subj "/CN=pulsarc cluster CA" &&
    openssl req -newkey rsa:2048 -nodes -keyout proxy.key -out proxy.csr -subj /CN=localhost &&
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > ext.cnf &&
    openssl x509 -req -in proxy.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out proxy.pem \
      -days 2 -extfile ext.cnf ) > "$s/openssl.log" 2>&1 ||
    { cat "$s/openssl.log" >&2; die "making the proxy's certificate failed"; }
  head -c 32 /dev/urandom > "$s/token.key"
  for role in admin proxy client; do make_jwt "$role" > "$s/$role.token"; done
  chmod 600 "$s"/*
  PULSAR_ADMIN_TOKEN="$(cat "$s/admin.token")"
}

auth_conf() {  # auth_conf broker|proxy: the token authentication lines
  local s="$D/secrets"
  cat <<EOF
authenticationEnabled=true
authenticationProviders=org.apache.pulsar.broker.authentication.AuthenticationProviderToken
tokenSecretKey=file://$s/token.key
anonymousUserRole=anonymous
authorizationEnabled=false
superUserRoles=admin,proxy
brokerClientAuthenticationPlugin=org.apache.pulsar.client.impl.auth.AuthenticationToken
EOF
  if [[ "$1" == proxy ]]; then
    echo "brokerClientAuthenticationParameters=token:$(cat "$s/proxy.token")"
    echo "forwardAuthorizationCredentials=true"
  else
    echo "brokerClientAuthenticationParameters=token:$(cat "$s/admin.token")"
    echo "proxyRoles=proxy"
  fi
}

write_confs() {  # write_confs LM_CLASS
  local lm="$1" m
  for m in "${MEMBERS[@]}"; do
    mkdir -p "$D/$m/conf" "$D/$m/data" "$D/$m/logs" "$D/$m/tmp"
    log4j_conf "$m"
  done
  # tickTime 500 ms: sessions may be as short as 1 s (ZooKeeper bounds them
  # to [2, 20] ticks), so a killed broker's ownership expires within seconds.
  cat > "$D/zk/conf/zoo.cfg" <<EOF
tickTime=500
initLimit=10
syncLimit=5
dataDir=$D/zk/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,stat,srvr
autopurge.purgeInterval=0
EOF
  cat > "$D/bookie/conf/bookie.conf" <<EOF
# Generated by pulsarc tools/real-cluster/pulsar-cluster.sh
bookiePort=$BOOKIE_PORT
advertisedAddress=127.0.0.1
listeningInterface=lo
allowLoopback=true
allowEphemeralPorts=false
httpServerEnabled=false
metadataServiceUri=zk+hierarchical://127.0.0.1:$ZK_PORT/ledgers
zkTimeout=$SESSION_MS
journalDirectories=$D/bookie/data/journal
ledgerDirectories=$D/bookie/data/ledgers
ledgerStorageClass=org.apache.bookkeeper.bookie.storage.ldb.DbLedgerStorage
dbStorage_writeCacheMaxSizeMb=32
dbStorage_readAheadCacheMaxSizeMb=32
dbStorage_rocksDB_blockCacheSize=16777216
# acknowledged entries are in the journal: SIGKILL loses nothing acknowledged
journalWriteData=true
journalSyncData=${PULSAR_JOURNAL_SYNC:-false}
journalPreAllocSizeMB=4
journalMaxSizeMB=256
nettyMaxFrameSizeBytes=5253120
diskUsageThreshold=0.99
diskUsageWarnThreshold=0.99
numAddWorkerThreads=1
numReadWorkerThreads=1
serverNumIOThreads=2
gcWaitTime=60000
statsProviderClass=org.apache.bookkeeper.stats.NullStatsProvider
EOF
  local n port web
  for n in 1 2; do
    port="BROKER${n}_PORT"; web="BROKER${n}_WEB_PORT"
    cat > "$D/broker$n/conf/broker.conf" <<EOF
# Generated by pulsarc tools/real-cluster/pulsar-cluster.sh (Pulsar $VERSION)
clusterName=$CLUSTER
metadataStoreUrl=zk:127.0.0.1:$ZK_PORT
configurationMetadataStoreUrl=zk:127.0.0.1:$ZK_PORT
metadataStoreSessionTimeoutMillis=$SESSION_MS
zooKeeperSessionTimeoutMillis=$SESSION_MS
bookkeeperMetadataServiceUri=zk+hierarchical://127.0.0.1:$ZK_PORT/ledgers
bindAddress=127.0.0.1
advertisedAddress=127.0.0.1
brokerServicePort=${!port}
webServicePort=${!web}
functionsWorkerEnabled=false
webSocketServiceEnabled=false
transactionCoordinatorEnabled=false
$(auth_conf broker)
loadManagerClassName=$lm
loadBalancerEnabled=true
# nothing moves a topic unless a test asks for it (unload, split, kill)
loadBalancerSheddingEnabled=false
loadBalancerAutoBundleSplitEnabled=false
loadBalancerAutoUnloadSplitBundlesEnabled=false
loadBalancerOverrideBrokerNicSpeedGbps=10
managedLedgerDefaultEnsembleSize=1
managedLedgerDefaultWriteQuorum=1
managedLedgerDefaultAckQuorum=1
managedLedgerCacheSizeMB=32
allowAutoTopicCreation=true
allowAutoTopicCreationType=non-partitioned
brokerDeleteInactiveTopicsEnabled=false
defaultRetentionTimeInMinutes=-1
defaultRetentionSizeInMB=-1
systemTopicEnabled=true
topicLevelPoliciesEnabled=true
brokerDeduplicationEnabled=false
maxMessageSize=5242880
brokerShutdownTimeoutMs=3000
numIOThreads=2
numHttpServerThreads=8
numExecutorThreadPoolSize=2
numOrderedExecutorThreads=2
numCacheExecutorThreadPoolSize=1
bookkeeperClientNumWorkerThreads=2
bookkeeperNumberOfChannelsPerBookie=4
EOF
    if [[ "$lm" == *Extensible* ]]; then
      cat >> "$D/broker$n/conf/broker.conf" <<EOF
loadBalancerLoadSheddingStrategy=org.apache.pulsar.broker.loadbalance.extensions.scheduler.TransferShedder
loadBalancerMultiPhaseBundleUnload=true
EOF
    fi
    apply_extra "$D/broker$n/conf/broker.conf"
  done
  cat > "$D/proxy/conf/proxy.conf" <<EOF
# Generated by pulsarc tools/real-cluster/pulsar-cluster.sh (pulsar-proxy $PROXY_VERSION)
clusterName=$CLUSTER
metadataStoreUrl=zk:127.0.0.1:$ZK_PORT
configurationMetadataStoreUrl=zk:127.0.0.1:$ZK_PORT
metadataStoreSessionTimeoutMillis=$SESSION_MS
bindAddress=127.0.0.1
advertisedAddress=127.0.0.1
servicePort=$PROXY_PORT
webServicePort=$PROXY_WEB_PORT
# the default (6650,6651) would refuse our free broker ports
brokerProxyAllowedTargetPorts=$BROKER1_PORT,$BROKER2_PORT
brokerProxyAllowedHostNames=127.0.0.1,localhost
brokerProxyAllowedIPAddresses=127.0.0.0/8
servicePortTls=$PROXY_TLS_PORT
tlsCertificateFilePath=$D/secrets/proxy.pem
tlsKeyFilePath=$D/secrets/proxy.key
tlsTrustCertsFilePath=$D/secrets/ca.pem
tlsRequireTrustedClientCertOnConnect=false
$(auth_conf proxy)
numIOThreads=2
numAcceptorThreads=1
EOF
}

# ---------------------------------------------------------------- members
jvm_flags() {  # jvm_flags MEMBER
  local m="$1" heap
  if [[ "$m" == zk ]]; then heap="-Xms32m -Xmx128m"
  else heap="${PULSAR_CLUSTER_HEAP:--Xms64m -Xmx384m -XX:MaxDirectMemorySize=256m}"; fi
  # shellcheck disable=SC2086
  printf '%s\n' $heap "-Dpulsarc.member=$m" \
    -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -XX:TieredStopAtLevel=1 \
    -Djava.net.preferIPv4Stack=true \
    -Dio.netty.tryReflectionSetAccessible=true \
    "-Djava.io.tmpdir=$D/$m/tmp" \
    -Dpulsar.allocator.exit_on_oom=true \
    "-Dlog4j2.configurationFile=$D/$m/conf/log4j2.xml" \
    -Dlog4j.shutdownHookEnabled=false \
    -Dzookeeper.4lw.commands.whitelist=ruok,stat,srvr \
    -Dbookkeeper.metadata.bookie.drivers=org.apache.pulsar.metadata.bookkeeper.PulsarMetadataBookieDriver \
    -Dbookkeeper.metadata.client.drivers=org.apache.pulsar.metadata.bookkeeper.PulsarMetadataClientDriver \
    --add-opens java.base/java.io=ALL-UNNAMED \
    --add-opens java.base/java.util.zip=ALL-UNNAMED \
    --add-opens java.base/java.nio=ALL-UNNAMED \
    --add-opens java.base/jdk.internal.misc=ALL-UNNAMED \
    --add-opens java.base/sun.net=ALL-UNNAMED \
    --add-opens java.base/java.lang=ALL-UNNAMED \
    --add-opens java.base/java.util=ALL-UNNAMED \
    --add-opens java.management/sun.management=ALL-UNNAMED \
    --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
}

run_java() {  # run_java MEMBER MAINCLASS ARGS... (foreground, output to MEMBER's stdout.log)
  local m="$1" cls="$2"; shift 2
  local java; java="$(find_java)"
  local jvm; mapfile -t jvm < <(jvm_flags "$m")
  nice -n "${PULSAR_CLUSTER_NICE:-5}" "$java" "${jvm[@]}" -cp "$(cat "$CP_FILE")" "$cls" "$@" \
    < /dev/null >> "$D/$m/logs/stdout.log" 2>&1
}

member_ready() {  # member_ready MEMBER -> 0 when it serves
  local m="$1"
  case "$m" in
    zk) [[ "$( (exec 3<>"/dev/tcp/127.0.0.1/$ZK_PORT" && printf ruok >&3 && timeout 2 cat <&3) 2>/dev/null)" == imok ]] ;;
    bookie) port_in_use "$BOOKIE_PORT" ;;
    broker1) [[ "$(http_code "http://127.0.0.1:$BROKER1_WEB_PORT/admin/v2/brokers/ready")" == 200 ]] ;;
    broker2) [[ "$(http_code "http://127.0.0.1:$BROKER2_WEB_PORT/admin/v2/brokers/ready")" == 200 ]] ;;
    proxy) port_in_use "$PROXY_PORT" && port_in_use "$PROXY_TLS_PORT" && [[ "$(http_code "http://127.0.0.1:$PROXY_WEB_PORT/metrics/")" =~ ^(200|302)$ ]] ;;
  esac
}

launch() {  # launch MEMBER: start its JVM in the background and wait until it serves
  local m="$1" p
  member_alive "$m" && die "$m is already running (pid $(member_pid "$m"))"
  for p in $(member_ports "$m"); do
    local i; for i in $(seq 1 100); do port_in_use "$p" || break; sleep 0.1; done
    port_in_use "$p" && die "port $p of $m is in use"
  done
  local cls; cls="$(main_class "$m")"
  local args; read -r -a args <<< "$(member_args "$m")"
  echo "=== start $(date -u +%FT%TZ) $cls ${args[*]}" >> "$D/$m/logs/stdout.log"
  local t0; t0=$(date +%s.%N)
  local java; java="$(find_java)"
  local jvm; mapfile -t jvm < <(jvm_flags "$m")
  local setsid=(); command -v setsid >/dev/null 2>&1 && setsid=(setsid)
  # setsid and nice exec in place, so $! is the JVM's pid; the new session
  # keeps a signal meant for the caller's process group away from the JVMs
  ( cd "$D/$m" && exec "${setsid[@]}" nice -n "${PULSAR_CLUSTER_NICE:-5}" "$java" "${jvm[@]}" \
      -cp "$(cat "$CP_FILE")" "$cls" "${args[@]}" < /dev/null >> "$D/$m/logs/stdout.log" 2>&1 ) &
  local jpid=$!
  local timeout="${PULSAR_START_TIMEOUT:-120}"
  echo "$jpid" > "$D/$m/pid"
  while ! member_ready "$m"; do
    if ! kill -0 "$jpid" 2>/dev/null; then
      log "$m exited during startup; last log lines:"
      tail -n 30 "$D/$m/logs/stdout.log" "$D/$m/logs/$m.log" >&2 2>/dev/null || true
      rm -f "$D/$m/pid"; exit 1
    fi
    if (( $(date +%s) - ${t0%.*} > timeout )); then
      log "$m not ready after ${timeout}s; last log lines:"
      tail -n 30 "$D/$m/logs/$m.log" >&2 2>/dev/null || true
      kill -KILL "$jpid" 2>/dev/null || true
      rm -f "$D/$m/pid"; exit 1
    fi
    sleep 0.3
  done
  log "$m ready in $(elapsed "$t0")s (pid $jpid, log $D/$m/logs/$m.log)"
}

stop_member() {  # stop_member MEMBER SIGNAL
  local m="$1" sig="$2" pid
  pid="$(member_pid "$m")"
  if ! member_alive "$m"; then rm -f "$D/$m/pid"; return 0; fi
  local t0; t0=$(date +%s.%N)
  kill "-$sig" "$pid" 2>/dev/null || true
  local grace="${PULSAR_STOP_GRACE:-15}" i=0
  while kill -0 "$pid" 2>/dev/null; do
    if (( i == grace * 10 )); then
      log "$m (pid $pid) still alive after ${grace}s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.1; i=$((i + 1))
  done
  log "stopped $m (pid $pid) with SIG$sig in $(elapsed "$t0")s"
  rm -f "$D/$m/pid"
}

init_metadata() {
  local t0; t0=$(date +%s.%N)
  mkdir -p "$D/init/logs" "$D/init/conf" "$D/init/tmp"
  log4j_conf init
  run_java init org.apache.pulsar.PulsarClusterMetadataSetup \
    --cluster "$CLUSTER" \
    --metadata-store "zk:127.0.0.1:$ZK_PORT" \
    --configuration-metadata-store "zk:127.0.0.1:$ZK_PORT" \
    --web-service-url "http://127.0.0.1:$BROKER1_WEB_PORT" \
    --broker-service-url "pulsar://127.0.0.1:$BROKER1_PORT" ||
    { tail -n 30 "$D/init/logs/stdout.log" "$D/init/logs/init.log" >&2 2>/dev/null; die "cluster metadata setup failed"; }
  log "cluster metadata initialised in $(elapsed "$t0")s"
}

# ---------------------------------------------------------------- commands
cmd_start() {
  local lm=org.apache.pulsar.broker.loadbalance.impl.ModularLoadManagerImpl
  case "${1:-}" in
    "") ;;
    --extensible-lm) lm=org.apache.pulsar.broker.loadbalance.extensions.ExtensibleLoadManagerImpl ;;
    *) die "usage: start [--extensible-lm]" ;;
  esac
  local m
  if [[ -f "$PORTS" ]]; then
    load_ports
    for m in "${MEMBERS[@]}"; do member_alive "$m" && die "$m is running; stop the cluster first"; done
  fi
  need_curl
  cmd_fetch
  local t0; t0=$(date +%s.%N)
  rm -rf "$D"; mkdir -p "$D"
  local taken=() name p
  for name in ZK_PORT BOOKIE_PORT BROKER1_PORT BROKER1_WEB_PORT BROKER2_PORT BROKER2_WEB_PORT \
    PROXY_PORT PROXY_WEB_PORT PROXY_TLS_PORT; do
    p="$(pick_port "${taken[@]}")"; taken+=("$p"); printf -v "$name" '%s' "$p"
  done
  cat > "$PORTS" <<EOF
ZK_PORT=$ZK_PORT
BOOKIE_PORT=$BOOKIE_PORT
BROKER1_PORT=$BROKER1_PORT
BROKER1_WEB_PORT=$BROKER1_WEB_PORT
BROKER2_PORT=$BROKER2_PORT
BROKER2_WEB_PORT=$BROKER2_WEB_PORT
PROXY_PORT=$PROXY_PORT
PROXY_WEB_PORT=$PROXY_WEB_PORT
PROXY_TLS_PORT=$PROXY_TLS_PORT
PULSAR_CLUSTER_PROXY_TLS_URL=pulsar+ssl://127.0.0.1:$PROXY_TLS_PORT
PULSAR_CLUSTER_CA=$D/secrets/ca.pem
PULSAR_CLUSTER_CLIENT_TOKEN_FILE=$D/secrets/client.token
PULSAR_CLUSTER_BROKER1_URL=pulsar://127.0.0.1:$BROKER1_PORT
PULSAR_CLUSTER_BROKER2_URL=pulsar://127.0.0.1:$BROKER2_PORT
PULSAR_CLUSTER_PROXY_URL=pulsar://127.0.0.1:$PROXY_PORT
PULSAR_CLUSTER_SERVICE_URL=pulsar://127.0.0.1:$BROKER1_PORT,127.0.0.1:$BROKER2_PORT
PULSAR_CLUSTER_WEB_URL=http://127.0.0.1:$BROKER1_WEB_PORT
PULSAR_CLUSTER_NAME=$CLUSTER
PULSAR_CLUSTER_DIR=$D
PULSAR_CLUSTER_LM=$lm
PULSAR_VERSION=$VERSION
PULSAR_PROXY_VERSION=$PROXY_VERSION
EOF
  make_secrets
  write_confs "$lm"
  launch zk
  init_metadata
  launch bookie
  # one broker at a time: two JVMs warming up at once starve a 2-core box
  launch broker1
  launch broker2
  launch proxy
  wait_brokers_registered
  log "cluster ready in $(elapsed "$t0")s: $D/ports.env"
  cat "$PORTS"
}

wait_brokers_registered() {  # both brokers visible to the cluster's admin API
  local i got
  for i in $(seq 1 120); do
    got="$(admin_get "/admin/v2/brokers/$CLUSTER" 2>/dev/null || true)"
    [[ "$got" == *":$BROKER1_WEB_PORT"* && "$got" == *":$BROKER2_WEB_PORT"* ]] && return 0
    sleep 0.5
  done
  die "brokers not both registered after 60s (last: $got)"
}

cmd_stop() {
  [[ -f "$PORTS" ]] || { log "nothing to stop ($PORTS missing)"; return 0; }
  load_ports
  local m
  if [[ -n "${1:-}" ]]; then main_class "$1" >/dev/null; stop_member "$1" TERM; return 0; fi
  # front to back, so no member outlives what it depends on for long
  for m in proxy broker2 broker1 bookie zk; do stop_member "$m" TERM; done
}

cmd_kill() {
  local m="${1:?usage: kill MEMBER}"
  main_class "$m" >/dev/null; load_ports
  member_alive "$m" || die "$m is not running"
  stop_member "$m" KILL
}

cmd_restart() {
  local m="${1:?usage: restart MEMBER [--kill]}" sig=TERM
  case "${2:-}" in "") ;; --kill) sig=KILL ;; *) die "usage: restart MEMBER [--kill]" ;; esac
  main_class "$m" >/dev/null; load_ports
  stop_member "$m" "$sig"
  launch "$m"
}

cmd_status() {
  load_ports
  local m rc=0
  for m in "${MEMBERS[@]}"; do
    if ! member_alive "$m"; then echo "$m stopped"; rc=1
    elif member_ready "$m"; then echo "$m up pid $(member_pid "$m") port $(member_port "$m")"
    else echo "$m starting pid $(member_pid "$m")"; rc=1; fi
  done
  return "$rc"
}

# ---------------------------------------------------------------- admin (REST)
web_urls() {  # the admin endpoints of the brokers that are up, broker1 first
  member_alive broker1 && echo "http://127.0.0.1:$BROKER1_WEB_PORT"
  member_alive broker2 && echo "http://127.0.0.1:$BROKER2_WEB_PORT"
  true
}

admin_call() {  # admin_call METHOD PATH [BODY]: first broker that answers; body to stdout
  local method="$1" path="$2" body="${3:-}" url out code
  local tmp; tmp="$(mktemp)"
  for url in $(web_urls); do
    local args=(-s -o "$tmp" -w '%{http_code}' --max-time 30 -X "$method")
    [[ -n "${PULSAR_ADMIN_TOKEN:-}" ]] && args+=(-H "Authorization: Bearer $PULSAR_ADMIN_TOKEN")
    [[ -n "$body" ]] && args+=(-H 'Content-Type: application/json' -d "$body")
    # follow the 307 redirects to the owning broker, keeping the method
    code="$(curl "${args[@]}" -L --post301 --post302 --post303 "$url$path" 2>/dev/null || true)"
    out="$(cat "$tmp")"
    if [[ "$code" =~ ^2 ]]; then rm -f "$tmp"; printf '%s' "$out"; return 0; fi
    [[ "$code" =~ ^(000|5) ]] && continue
    rm -f "$tmp"; log "$method $path -> HTTP $code: $out"; return 1
  done
  rm -f "$tmp"; log "$method $path: no broker answered (last HTTP ${code:-none})"; return 1
}

admin_get() { admin_call GET "$1"; }

topic_path() {  # persistent://t/ns/x or x -> persistent/t/ns/x
  local t="$1"
  [[ "$t" == persistent://* ]] || t="persistent://public/default/$t"
  t="${t#persistent://}"
  [[ "$t" =~ ^[^/]+/[^/]+/.+ ]] || die "bad topic '$1'"
  echo "persistent/$t"
}

broker_name_of() {  # URL or host:port -> broker1|broker2|?
  case "$1" in
    *":$BROKER1_PORT"* | *":$BROKER1_WEB_PORT"*) echo broker1 ;;
    *":$BROKER2_PORT"* | *":$BROKER2_WEB_PORT"*) echo broker2 ;;
    *) echo "?" ;;
  esac
}

cmd_owner() {
  local t; t="$(topic_path "${1:?usage: owner TOPIC}")"; load_ports
  local got url
  got="$(admin_get "/lookup/v2/topic/$t")" || die "lookup of $1 failed"
  url="$(sed -n 's/.*"brokerUrl" *: *"\([^"]*\)".*/\1/p' <<< "$got")"
  [[ -n "$url" ]] || die "lookup of $1: no brokerUrl in $got"
  echo "$(broker_name_of "$url") $url"
}

cmd_unload() {
  local t; t="$(topic_path "${1:?usage: unload TOPIC [broker1|broker2]}")"; load_ports
  local dest=""
  case "${2:-}" in
    "") ;;
    broker1) dest="127.0.0.1:$BROKER1_WEB_PORT" ;;
    broker2) dest="127.0.0.1:$BROKER2_WEB_PORT" ;;
    *) die "usage: unload TOPIC [broker1|broker2]" ;;
  esac
  if [[ -z "$dest" ]]; then
    admin_call PUT "/admin/v2/$t/unload" >/dev/null || die "unload $1 failed"
    log "unloaded $1"
    return 0
  fi
  # A topic unload ignores destinationBroker; a transfer moves the topic's
  # whole bundle (broker ids are advertisedAddress:webServicePort).
  local ns bundle; ns="$(cut -d/ -f2,3 <<< "$t")"
  bundle="$(admin_get "/lookup/v2/topic/$t/bundle")" || die "bundle of $1"
  admin_call PUT "/admin/v2/namespaces/$ns/$bundle/unload?destinationBroker=$dest" >/dev/null ||
    die "unload of $ns/$bundle to $2 failed"
  log "unloaded bundle $ns/$bundle of $1 to $2 ($dest)"
}

cmd_split_bundle() {
  local ns="${1:?usage: split-bundle NS [BUNDLE]}" b; load_ports
  [[ "$ns" =~ ^[^/]+/[^/]+$ ]] || die "bad namespace '$ns' (tenant/ns)"
  local bundles=()
  if [[ -n "${2:-}" ]]; then bundles=("$2")
  else
    local got; got="$(admin_get "/admin/v2/namespaces/$ns/bundles")" || die "bundles of $ns"
    # {"boundaries":["0x00000000","0x40000000",...],"numBundles":4}
    local bounds; mapfile -t bounds < <(grep -o '0x[0-9a-fA-F]*' <<< "$got")
    local i; for ((i = 0; i + 1 < ${#bounds[@]}; i++)); do bundles+=("${bounds[i]}_${bounds[i + 1]}"); done
  fi
  for b in "${bundles[@]}"; do
    admin_call PUT "/admin/v2/namespaces/$ns/$b/split?unload=true&splitAlgorithmName=range_equally_divide" >/dev/null ||
      die "split of $ns/$b failed"
    log "split $ns/$b"
  done
}

cmd_dedup() {
  local ns="${1:?usage: dedup NS on|off}" v; load_ports
  case "${2:-}" in on | true) v=true ;; off | false) v=false ;; *) die "usage: dedup NS on|off" ;; esac
  admin_call POST "/admin/v2/namespaces/$ns/deduplication" "$v" >/dev/null || die "dedup $ns $v"
  local got; got="$(admin_get "/admin/v2/namespaces/$ns/deduplication")"
  [[ "$got" == "$v" ]] || die "deduplication of $ns reads back '$got', wanted $v"
  log "deduplication on $ns: $v"
}

cmd_create_partitioned() {
  local t; t="$(topic_path "${1:?usage: create-partitioned TOPIC N}")"; load_ports
  local n="${2:?usage: create-partitioned TOPIC N}"
  [[ "$n" =~ ^[0-9]+$ ]] || die "N must be a number"
  admin_call PUT "/admin/v2/$t/partitions" "$n" >/dev/null || die "create $1 with $n partitions"
  log "created $1 with $n partitions"
}

cmd_admin() {
  load_ports
  admin_call "${1:?usage: admin METHOD PATH [BODY]}" "${2:?usage: admin METHOD PATH [BODY]}" "${3:-}"
  echo
}

case "${1:-}" in
  fetch) shift; cmd_fetch "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  kill) shift; cmd_kill "$@" ;;
  restart) shift; cmd_restart "$@" ;;
  status) shift; cmd_status "$@" ;;
  unload) shift; cmd_unload "$@" ;;
  split-bundle) shift; cmd_split_bundle "$@" ;;
  owner) shift; cmd_owner "$@" ;;
  dedup) shift; cmd_dedup "$@" ;;
  create-partitioned) shift; cmd_create_partitioned "$@" ;;
  admin) shift; cmd_admin "$@" ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
