#!/usr/bin/env bash
# Create (or reuse) a Python virtualenv holding the OFFICIAL Apache Pulsar
# Python client (PyPI `pulsar-client`, which bundles the official C++ core),
# used by pulsarc's interop tests.
#
# Usage: tools/interop/setup-venv.sh        -> prints the venv's python path
#
# Environment:
#   PULSARC_VENV            venv directory   (default $HOME/.cache/pulsarc/venv)
#   PULSARC_PYTHON          base interpreter (default: python3.11, else python3)
#   PULSAR_CLIENT_VERSION   pulsar-client version to install (default 3.13.0)
#
# Idempotent: if the venv already imports pulsar at the wanted version, it
# does nothing but print the path. pip installs are retried.
set -euo pipefail

VENV="${PULSARC_VENV:-$HOME/.cache/pulsarc/venv}"
WANT="${PULSAR_CLIENT_VERSION:-3.13.0}"

log() { echo "setup-venv: $*" >&2; }

retry() {  # retry N cmd...
  local n="$1" i=1; shift
  until "$@"; do
    if (( i >= n )); then log "giving up after $n attempts: $*"; return 1; fi
    log "attempt $i failed, retrying in $((i * 5))s: $*"
    sleep $((i * 5)); i=$((i + 1))
  done
}

venv_ok() {
  [[ -x "$VENV/bin/python" ]] &&
    "$VENV/bin/python" - "$WANT" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
import pulsar  # noqa: F401  (must import: native core present)
import fastavro  # noqa: F401  (the avro extra: Avro schemas in the interop suite)
sys.exit(0 if version("pulsar-client") == sys.argv[1] else 1)
PY
}

if venv_ok; then
  echo "$VENV/bin/python"
  exit 0
fi

PY="${PULSARC_PYTHON:-}"
if [[ -z "$PY" ]]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1; then PY="$(command -v "$c")"; break; fi
  done
fi
if [[ -z "$PY" ]]; then
  log "no python3 found; installing Debian python3"
  export DEBIAN_FRONTEND=noninteractive
  retry 3 apt-get update -qq
  retry 3 apt-get install -y -qq python3 python3-venv >&2
  PY="$(command -v python3)"
fi

# Debian's python3 needs python3-venv (ensurepip) for `-m venv`.
if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
    log "installing python3-venv"
    export DEBIAN_FRONTEND=noninteractive
    retry 3 apt-get update -qq
    pyver="$("$PY" -c 'import sys;print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    retry 3 apt-get install -y -qq python3-venv "python${pyver}-venv" >&2 ||
      retry 3 apt-get install -y -qq python3-venv >&2
  else
    log "$PY lacks the venv/ensurepip module (install python3-venv)"; exit 1
  fi
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating venv $VENV with $PY ($("$PY" --version 2>&1))"
  mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV"
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1
log "installing pulsar-client==$WANT"
retry 5 "$VENV/bin/python" -m pip install -q --retries 5 --timeout 60 \
  "pulsar-client[avro]==$WANT" >&2

if ! venv_ok; then
  log "pulsar-client $WANT installed but 'import pulsar' failed"; exit 1
fi
log "ok: pulsar-client $("$VENV/bin/python" -c 'from importlib.metadata import version;print(version("pulsar-client"))')"
echo "$VENV/bin/python"
