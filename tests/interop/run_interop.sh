#!/usr/bin/env bash
# ctest entry for the interop tier: prepare the official client's venv, then
# run the driver (which starts and stops one real broker itself).
# Usage: run_interop.sh PATH/TO/pulsarc-interop-publish [driver args...]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PUB="${1:?usage: run_interop.sh PUBLISHER [args...]}"; shift
PY="$("$ROOT/tools/interop/setup-venv.sh")"
exec "$PY" "$HERE/run_interop.py" --publisher "$PUB" --root "$ROOT" "$@"
