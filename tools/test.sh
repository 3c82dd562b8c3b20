#!/usr/bin/env bash
# Installs what is missing, builds pulsarc and runs its test suites.
#
#   tools/test.sh               format and pyflakes checks, the docs check (README/docs/options.md equal the
#                               option table), unit + integration tests
#                               (in-process test broker), then the symbols stage: exports and ABI of the
#                               installed libraries (tools/check-symbols.sh,
#                               tools/abi-dump.sh --check)
#   tools/test.sh --sanitizers  also unit + integration under ASan+UBSan (clang)
#                               and under ThreadSanitizer (gcc)
#   tools/test.sh --fuzz        also every libFuzzer target in tests/fuzz for
#                               PULSARC_FUZZ_SECONDS (60) s each, from its seeds
#   tools/test.sh --ci          everything CI runs: all of the above plus the
#                               install stage (tools/check-install.sh: the
#                               Debian packages and cmake --install, used),
#                               the interop suite against a real Apache Pulsar
#                               broker and the official client, and the
#                               cluster tier (two brokers, a bookie, ZooKeeper
#                               and a proxy: tools/real-cluster)
#
# Build directories: build/ (override with PULSARC_BUILD_DIR), and next to it
# <build>-asan, <build>-tsan and <build>-fuzz. Each stage prints its duration;
# a summary of all of them closes the run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${PULSARC_BUILD_DIR:-$root/build}
fuzz_seconds=${PULSARC_FUZZ_SECONDS:-60}
ci=0 sanitizers=0 fuzz=0
for a in "$@"; do
  case "$a" in
  --ci) ci=1 sanitizers=1 fuzz=1 ;;
  --sanitizers) sanitizers=1 ;;
  --fuzz) fuzz=1 ;;
  *) echo "usage: tools/test.sh [--ci] [--sanitizers] [--fuzz]" >&2; exit 2 ;;
  esac
done

# ---- stage bookkeeping: "name seconds" per finished stage, in run order.
stages=()
stage_name="" stage_start=0 run_start=$(date +%s)
stage() {
  stage_name=$1 stage_start=$(date +%s)
  echo
  echo "==== stage $stage_name"
}
stage_done() {
  local s=$(($(date +%s) - stage_start))
  stages+=("$stage_name $s")
  echo "==== stage $stage_name took $s s"
  stage_name=""
}
summary() {
  local rc=$?
  echo
  echo "==== summary"
  local st
  for st in ${stages[@]+"${stages[@]}"}; do
    printf '  %-22s %5s s\n' ${st}
  done
  [ -n "$stage_name" ] && printf '  %-22s FAILED after %s s\n' "$stage_name" \
    $(($(date +%s) - stage_start))
  echo "  total                  $(($(date +%s) - run_start)) s"
  exit $rc
}
trap summary EXIT

stage deps
if [ "$ci" = 1 ]; then
  "$root/tools/install-deps.sh" --interop
else
  "$root/tools/install-deps.sh"
fi
stage_done

# clang-format is part of the contract (CONTRIBUTING.md): a file that
# differs fails the run before anything is built.
stage format
"$root/tools/check-format.sh"
stage_done

# The Python drivers (interop, cluster, bench, doc generator) are checked
# before anything runs: a misspelt name otherwise fails only in the one
# suite that reaches it, minutes into CI. Debian's python3 and flake8, with
# pyflakes' checks only (style is not enforced).
stage pycheck
git -C "$root" ls-files '*.py' | (cd "$root" && xargs /usr/bin/python3 -m flake8 --select=F)
stage_done

# ---- the plain build: unit + integration (+ interop in CI)
stage build
interop=OFF
[ "$ci" = 1 ] && interop=ON
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPULSARC_INTEROP=$interop \
  -DPULSARC_CLUSTER_TESTS=$interop
cmake --build "$build"
stage_done

# src/LAYERS is the map of the library: no file references a symbol defined
# in a file above it or includes a header of a higher folder, and tools
# reach the public API only (nm of the objects just built + the includes).
stage layers
"$root/tools/check-layering.sh" "$build"
stage_done

# README.md's option tables and docs/options.md are generated from the
# option table (src/conf/options.c) through the pulsarc-options tool just
# built: a hand edit or a table change without regenerating fails here,
# after the self-test has shown the check notices an edited copy.
stage docs
python3 "$root/tools/gen-options-doc.py" --self-test --tool "$build/tools/options/pulsarc-options"
python3 "$root/tools/gen-options-doc.py" --check --tool "$build/tools/options/pulsarc-options"
stage_done

stage tests
ctest --test-dir "$build" --output-on-failure -j2 -LE 'interop|cluster'
stage_done

# What a user gets from `cmake --install`: the shared and static libraries
# export exactly the PULSARC_API functions of the header and no test hook
# (the script's self-test first proves it notices a difference), and the
# ABI equals the committed abi/ dump.
stage symbols
rm -rf "$build/symbols-install"
cmake --install "$build" --prefix "$build/symbols-install" >/dev/null
"$root/tools/check-symbols.sh" --self-test "$build/symbols-install"
"$root/tools/check-symbols.sh" "$build/symbols-install"
"$root/tools/abi-dump.sh" --check "$build/symbols-install"
stage_done

# The Debian packages and cmake --install, used as a user would
# (tools/check-install.sh): CI only; 12-45 s here from the finished build.
if [ "$ci" = 1 ]; then
  stage install
  "$root/tools/check-install.sh" "$build"
  stage_done
fi

if [ "$ci" = 1 ]; then
  stage interop
  ctest --test-dir "$build" --output-on-failure --no-tests=error -L interop
  stage_done
  # A real multi-broker cluster (tools/real-cluster): ZooKeeper, a bookie,
  # two brokers and a proxy; each test starts its own (about a minute).
  stage cluster
  ctest --test-dir "$build" --output-on-failure --no-tests=error -L cluster
  stage_done
fi

# ---- sanitizer builds: every target instrumented (PULSARC_SANITIZE), unit +
# integration only. One compiler each, so both stay -Werror clean; TSan on
# gcc because gcc's TSan is the one that reported the ck_ring hand-offs
# (src/producer/sendq.c) before they got a TSan variant, clang's did not.
sanitized() { # <suffix> <sanitizer> <cc> <cxx>
  cmake -S "$root" -B "$build-$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPULSARC_SANITIZE="$2" -DCMAKE_C_COMPILER="$3" -DCMAKE_CXX_COMPILER="$4"
  cmake --build "$build-$1"
}

if [ "$sanitizers" = 1 ]; then
  stage asan-build
  sanitized asan address clang clang++
  stage_done
  stage asan-tests
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$build-asan" --output-on-failure --no-tests=error -j2 -LE interop
  stage_done

  stage tsan-build
  sanitized tsan thread gcc g++
  stage_done
  stage tsan-tests
  # Any report fails its test (TSan exits 66). tests/tsan.supp, if present,
  # lists the accepted ones, each named and justified there.
  tsan_opts="second_deadlock_stack=1:history_size=4"
  [ -f "$root/tests/tsan.supp" ] && tsan_opts="$tsan_opts:suppressions=$root/tests/tsan.supp"
  # The chaos test at a scale TSan's ~10x slowdown affords. The examples
  # are left out: each is a separate program against a separate broker
  # process, so TSan sees nothing the library tests do not, and at TSan's
  # speed the backpressure example (62 s alone) ran past its own bounds.
  TSAN_OPTIONS=$tsan_opts PULSARC_CHAOS_MESSAGES=100000 PULSARC_CHAOS_DROPS=50 \
    ctest --test-dir "$build-tsan" --output-on-failure --no-tests=error -j2 -LE 'interop|examples'
  stage_done
fi

# ---- fuzzers: clang, libFuzzer + ASan/UBSan (PULSARC_FUZZ turns them on).
# Each target runs from its committed seeds (tests/fuzz/corpus/<name>, left
# untouched: new inputs go to a scratch directory); a crash, leak or
# timeout fails the run and leaves the input in <build>-fuzz/artifacts.
if [ "$fuzz" = 1 ]; then
  stage fuzz-build
  cmake -S "$root" -B "$build-fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPULSARC_FUZZ=ON -DPULSARC_BUILD_TESTS=OFF -DCMAKE_C_COMPILER=clang \
    -DCMAKE_CXX_COMPILER=clang++
  targets=()
  for src in "$root"/tests/fuzz/fuzz_*.c; do
    t=$(basename "$src" .c)
    targets+=("${t#fuzz_}")
  done
  cmake --build "$build-fuzz" --target "${targets[@]/#/pulsarc_fuzz_}"
  stage_done

  for t in "${targets[@]}"; do
    stage "fuzz-$t"
    scratch="$build-fuzz/scratch/$t"
    rm -rf "$scratch"
    mkdir -p "$scratch" "$build-fuzz/artifacts"
    seeds=()
    [ -d "$root/tests/fuzz/corpus/$t" ] && seeds=("$root/tests/fuzz/corpus/$t")
    # Progress lines (NEW/REDUCE/pulse) are dropped; start, end, final stats
    # and any crash report are kept.
    set +e
    "$build-fuzz/tests/fuzz/pulsarc_fuzz_$t" -max_total_time="$fuzz_seconds" -timeout=30 \
      -print_final_stats=1 -artifact_prefix="$build-fuzz/artifacts/$t-" \
      "$scratch" ${seeds[@]+"${seeds[@]}"} 2>&1 |
      grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)'
    rc=${PIPESTATUS[0]}
    set -e
    if [ "$rc" != 0 ]; then
      echo "fuzz target $t failed (exit $rc); inputs in $build-fuzz/artifacts" >&2
      exit 1
    fi
    stage_done
  done
fi
