#!/usr/bin/env bash
# Proves tools/check_layering.py rejects what it must. Three cases on copies
# of this fixture, compiled with cc -c into a temporary directory:
#   bad       as committed: one upward call, one more only in the objects
#             compiled with test hooks (-DFIX_TEST_HOOKS, checked through
#             --variant), one upward include and one tool reaching a library
#             header; the check must fail with exactly those four findings
#   clean     the lines tagged "layering-fixture: bad" deleted (an upward
#             event through a function-pointer table and a downward call
#             inside low/ remain); the check must pass
#   unlisted  clean plus a .c file the map does not list; the check must
#             fail and say where to add it
#
#   run-fixture.sh <cc> <nm> <python3>
set -euo pipefail
cc=$1 nm=$2 python=$3
here=$(cd "$(dirname "$0")" && pwd)
checker=$here/../../tools/check_layering.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL ($1): $2" >&2
  [ -f "$tmp/$1.out" ] && sed 's/^/  | /' "$tmp/$1.out" >&2
  exit 1
}

# prepare <case>: copy the fixture. build <case>: compile every
# src/<folder>/<file>.c to <case>-obj/<folder>/<file>.c.o as CMake names
# objects, and those mentioning FIX_TEST_HOOKS again into <case>-hooks/.
prepare() {
  cp -R "$here" "$tmp/$1"
  rm -f "$tmp/$1/run-fixture.sh"
}
build() {
  local c=$1 src rel
  while IFS= read -r src; do
    rel=${src#"$tmp/$c/src/"}
    mkdir -p "$tmp/$c-obj/$(dirname "$rel")"
    "$cc" -std=c11 -Wall -Wextra -Werror -O0 -I "$tmp/$c/src" -I "$tmp/$c/include" \
      -c "$src" -o "$tmp/$c-obj/$rel.o"
    if grep -q FIX_TEST_HOOKS "$src"; then
      mkdir -p "$tmp/$c-hooks/$(dirname "$rel")"
      "$cc" -std=c11 -Wall -Wextra -Werror -O0 -DFIX_TEST_HOOKS -I "$tmp/$c/src" \
        -I "$tmp/$c/include" -c "$src" -o "$tmp/$c-hooks/$rel.o"
    fi
  done < <(find "$tmp/$c/src" -name '*.c' | sort)
}
# check <case>: runs the checker; its exit status goes to rc.
check() {
  set +e
  "$python" "$checker" --root "$tmp/$1" --objdir "$tmp/$1-obj" --variant "$tmp/$1-hooks" \
    --nm "$nm" >"$tmp/$1.out" 2>&1
  rc=$?
  set -e
}
expect_line() { # <case> <exact line>
  grep -qxF -- "$2" "$tmp/$1.out" || fail "$1" "missing: $2"
}

prepare bad
build bad
check bad
[ "$rc" = 1 ] || fail bad "exit $rc, expected 1"
expect_line bad "src/mid/work.c calls top_notify defined in src/top/api.c, which is above it in src/LAYERS"
expect_line bad "src/mid/work.c calls top_probe defined in src/top/api.c, which is above it in src/LAYERS (with test hooks)"
expect_line bad "src/mid/work.c:6 includes src/top/api.h: top/ is above mid/ in src/LAYERS"
expect_line bad "tools/app/app.c:3 includes src/mid/work.h: tools reach only public headers (pulsarc/*.h), their own folder, tools/common and tools/testbroker/testbroker.h (src/LAYERS lists any exception)"
expect_line bad "check-layering: 4 finding(s); src/LAYERS is the map, CONTRIBUTING.md (Layering) the rule"

prepare clean
find "$tmp/clean" -type f -exec sed -i '/layering-fixture: bad/d' {} +
! grep -rqE 'top_(notify|probe)|FIX_TEST_HOOKS' "$tmp/clean/src/mid" ||
  fail clean "an upward call is still there"
build clean
check clean
[ "$rc" = 0 ] || fail clean "exit $rc, expected 0"
expect_line clean "check-layering: 4 files in 3 folders, 3 references between files, all downward; the includes of 9 files follow the folder order"

prepare unlisted
find "$tmp/unlisted" -type f -exec sed -i '/layering-fixture: bad/d' {} +
printf '#include "low/store.h"\nint low_extra(void) { return low_capacity; }\n' \
  >"$tmp/unlisted/src/low/extra.c"
build unlisted
check unlisted
[ "$rc" = 1 ] || fail unlisted "exit $rc, expected 1"
expect_line unlisted "src/low/extra.c is not in src/LAYERS: add it to the low/ block (lines 5-6), below every file that calls it and above every file it calls"

echo "layering fixture: bad rejected (4 findings), clean accepted, unlisted file rejected"
