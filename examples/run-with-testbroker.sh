#!/usr/bin/env bash
# Runs one example against a fresh pulsarc-testbroker and exits with the
# example's status (the ctests of examples/CMakeLists.txt, and
# tools/check-install.sh against the installed broker).
#
#   run-with-testbroker.sh TESTBROKER [BROKER_ARG...] -- EXAMPLE [ARG...]
#
# Every @URL@ in the example's arguments becomes the broker's
# pulsar://HOST:PORT, every @PORT@ its port. The broker gets 30 s to print its ready line and the
# example PULSARC_EXAMPLE_TIMEOUT (120) s to finish.
set -euo pipefail
broker=$1
shift
broker_args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  broker_args+=("$1")
  shift
done
[ $# -gt 1 ] || { echo "usage: $0 TESTBROKER [BROKER_ARG...] -- EXAMPLE [ARG...]" >&2; exit 2; }
shift

dir=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

: >"$dir/out"
"$broker" --listen 127.0.0.1:0 ${broker_args[@]+"${broker_args[@]}"} >"$dir/out" 2>"$dir/err" &
pid=$!
url=""
for _ in $(seq 300); do
  url=$(sed -n 's/^ready \(pulsar[^ ]*\)$/\1/p' "$dir/out")
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "run-with-testbroker: the broker did not become ready:" >&2
  cat "$dir/err" >&2
  exit 1
fi

port=${url##*:}
args=()
for a in "$@"; do
  a=${a//@URL@/$url}
  args+=("${a//@PORT@/$port}")
done
echo "run-with-testbroker: ${args[*]}"
timeout "${PULSARC_EXAMPLE_TIMEOUT:-120}" "${args[@]}"
