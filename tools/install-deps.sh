#!/usr/bin/env bash
# Installs everything pulsarc's build, tests, bench and tools need on a fresh
# Debian 12. Idempotent: when every package is already installed it does not
# touch apt at all, so re-runs are fast. Works as root or through sudo.
#
# Usage: tools/install-deps.sh [--interop]
#   --interop  also Java and Maven, to run a real Pulsar broker from Maven
#              Central jars (the interop suite; the Python client itself goes
#              into a virtualenv made by tools/interop/setup-venv.sh)
set -euo pipefail

# libcurl4-openssl-dev: OAuth2 token requests (HTTPS verified against the
# OpenSSL trust store pulsarc already uses).
# abigail-tools: abidw/abidiff for the ABI check (tools/abi-dump.sh).
# valgrind: the ctest example_valgrind_suppressions keeps tools/valgrind.supp
# right; openssl: the throw-away CA of the TLS example's test.
# prometheus (for its promtool) and python3-prometheus-client: the metrics
# tests run both real parsers on pulsarc_client_metrics' text. The package
# also brings the Prometheus server, whose service Debian enables where
# systemd runs; the tests need only promtool.
# Sanitizer runtimes: gcc's (libasan8, libubsan1, libtsan2) come with
# build-essential; clang's (ASan, TSan, libFuzzer) are only a Recommends of
# clang on Debian 12, hence libclang-rt-14-dev (clang there is clang-14).
PACKAGES=(
  build-essential cmake ninja-build pkg-config clang clang-format libclang-rt-14-dev
  libck-dev libprotobuf-c-dev protobuf-c-compiler
  libssl-dev zlib1g-dev liblz4-dev libzstd-dev libsnappy-dev
  libcurl4-openssl-dev
  libgtest-dev gnuplot-nox python3-venv curl
  abigail-tools valgrind openssl
  prometheus python3-prometheus-client flake8
)

for a in "$@"; do
  case "$a" in
  --interop) PACKAGES+=(openjdk-17-jdk-headless maven) ;;
  *) echo "usage: tools/install-deps.sh [--interop]" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
