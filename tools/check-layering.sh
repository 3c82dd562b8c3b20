#!/usr/bin/env bash
# The layering check over a build: src/LAYERS is the map, and no library
# file may reference a symbol defined in a file above it or include a
# header of a folder above its own; tools reach the public API only (plus
# what src/LAYERS grants). Reads nm of the objects CMake compiled from src/
# (not the generated protobuf code), shipped and with test hooks, so build
# first.
#
#   tools/check-layering.sh [build-dir]   (default $PULSARC_BUILD_DIR, else build/)
#
# NM overrides the nm program. Details: tools/check_layering.py.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-${PULSARC_BUILD_DIR:-$root/build}}
objs=$build/src/CMakeFiles
if [ ! -d "$objs" ]; then
  echo "check-layering: no $objs: build first (cmake --build $build)" >&2
  exit 2
fi
exec python3 "$root/tools/check_layering.py" --root "$root" \
  --objdir "$objs/pulsarc_core_obj.dir" \
  --objdir "$objs/pulsarc_hooks_off_obj.dir" \
  --objdir "$objs/pulsarc_codec_obj.dir" \
  --variant "$objs/pulsarc_hooks_on_obj.dir"
