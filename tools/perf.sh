#!/usr/bin/env bash
# Installs what is missing, builds pulsarc (release) and runs the main job:
# pulsarc-perf against the embedded test broker. Extra arguments go to
# pulsarc-perf (see pulsarc-perf --help), e.g. tools/perf.sh --size 1024.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${PULSARC_BUILD_DIR:-$root/build-release}
"$root/tools/install-deps.sh"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPULSARC_BUILD_TESTS=OFF
cmake --build "$build" --target pulsarc-perf
exec "$build/tools/perf/pulsarc-perf" "$@"
