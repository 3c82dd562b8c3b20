#!/usr/bin/env bash
# ctest entry for the cluster tier: prepare the official client's venv
# (tools/interop/setup-venv.sh), then run one cluster test script with it.
# Usage: run_cluster_test.sh SCRIPT.py [args...]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SCRIPT="${1:?usage: run_cluster_test.sh SCRIPT.py [args...]}"; shift
PY="$("$ROOT/tools/interop/setup-venv.sh")"
exec "$PY" "$HERE/$SCRIPT" --root "$ROOT" "$@"
