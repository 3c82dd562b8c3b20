#!/usr/bin/env bash
# Installs what is missing, builds pulsarc and runs its test suites.
#
#   tools/test.sh          unit + integration tests (in-process test broker)
#   tools/test.sh --ci     everything CI runs: also the interop suite against a
#                          real Apache Pulsar broker and the official client
#
# Build directory: build/ (override with PULSARC_BUILD_DIR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${PULSARC_BUILD_DIR:-$root/build}
ci=0
for a in "$@"; do
  case "$a" in
  --ci) ci=1 ;;
  *) echo "usage: tools/test.sh [--ci]" >&2; exit 2 ;;
  esac
done

if [ "$ci" = 1 ]; then
  "$root/tools/install-deps.sh" --interop
else
  "$root/tools/install-deps.sh"
fi

interop=OFF
[ "$ci" = 1 ] && interop=ON
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPULSARC_INTEROP=$interop
cmake --build "$build"

start=$(date +%s)
ctest --test-dir "$build" --output-on-failure -j2 -LE interop
if [ "$ci" = 1 ]; then
  ctest --test-dir "$build" --output-on-failure --no-tests=error -L interop
fi
echo "tests took $(( $(date +%s) - start )) s"
