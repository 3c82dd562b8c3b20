#!/usr/bin/env bash
# Checks what the installed libraries export against the public header.
#
#   tools/check-symbols.sh [--header FILE] PREFIX
#   tools/check-symbols.sh --self-test PREFIX
#
# PREFIX is an install tree (cmake --install <build> --prefix PREFIX). The
# documented functions are read from the header at check time: every
# function declared with PULSARC_API (default: PREFIX/include/pulsarc/
# pulsarc.h). Fails, printing each difference, unless
#   - libpulsarc.so.<major> (nm -D --defined-only) exports exactly them,
#   - libpulsarc.a (nm -g --defined-only) defines exactly them as globals,
#   - neither library has a test hook symbol (pc_test*, *_alias*, aliases),
#     local ones included (nm -a reads the full symbol table),
#   - a C program that takes the address of every documented function links
#     and runs against each library (the static one through pulsarc.pc).
# --self-test runs the check on PREFIX as is (must pass), then on a copy of
# the header with one extra PULSARC_API declaration and on one with a
# declaration removed (both must fail).
set -euo pipefail

usage() {
  echo "usage: tools/check-symbols.sh [--header FILE | --self-test] PREFIX" >&2
  exit 2
}
header="" self_test=0
while [ $# -gt 1 ]; do
  case "$1" in
  --header) header=$2; shift 2 ;;
  --self-test) self_test=1; shift ;;
  *) usage ;;
  esac
done
[ $# -eq 1 ] || usage
prefix=$(cd "$1" && pwd)
[ -n "$header" ] || header=$prefix/include/pulsarc/pulsarc.h
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")

if [ "$self_test" = 1 ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "check-symbols self-test 1/3: the header as is must pass"
  "$self" --header "$header" "$prefix" || { echo "self-test: FAILED on the real header" >&2; exit 1; }
  # One more documented function than the libraries have.
  # (declared over two lines, before the closing extern "C")
  perl -0777 -pe 's/(.*)(#ifdef __cplusplus)/$1PULSARC_API int pulsarc_selftest_missing(\n    int x);\n\n$2/s' \
    "$header" >"$tmp/extra.h"
  grep -q pulsarc_selftest_missing "$tmp/extra.h" || { echo "self-test: fixture not made" >&2; exit 1; }
  echo "check-symbols self-test 2/3: a header with an extra declaration must fail"
  if "$self" --header "$tmp/extra.h" "$prefix" >"$tmp/out" 2>&1; then
    cat "$tmp/out"
    echo "self-test: FAILED: an undefined documented function went unnoticed" >&2
    exit 1
  fi
  grep -q 'pulsarc_selftest_missing' "$tmp/out" || {
    cat "$tmp/out"
    echo "self-test: FAILED: the report does not name the extra function" >&2
    exit 1
  }
  # One documented function fewer: the libraries export an undocumented one.
  victim=$(grep -m1 -o 'PULSARC_API [^(]*\bpulsarc_[a-z0-9_]*(' "$header" | grep -o 'pulsarc_[a-z0-9_]*($' | tr -d '(')
  grep -v "PULSARC_API .*\b$victim(" "$header" >"$tmp/fewer.h"
  echo "check-symbols self-test 3/3: a header without $victim must fail"
  if "$self" --header "$tmp/fewer.h" "$prefix" >"$tmp/out" 2>&1; then
    cat "$tmp/out"
    echo "self-test: FAILED: an undocumented export went unnoticed" >&2
    exit 1
  fi
  grep -q "$victim" "$tmp/out" || {
    cat "$tmp/out"
    echo "self-test: FAILED: the report does not name $victim" >&2
    exit 1
  }
  echo "check-symbols self-test: OK"
  exit 0
fi

libdir=""
for d in lib lib64 "lib/$(gcc -dumpmachine 2>/dev/null || echo none)"; do
  [ -f "$prefix/$d/libpulsarc.a" ] && libdir=$prefix/$d && break
done
[ -n "$libdir" ] || { echo "check-symbols: no libpulsarc.a under $prefix/lib*" >&2; exit 1; }
so=$(find "$libdir" -maxdepth 1 -name 'libpulsarc.so.[0-9]*' ! -name 'libpulsarc.so.*.*' | head -n1)
[ -n "$so" ] || { echo "check-symbols: no libpulsarc.so.<major> in $libdir" >&2; exit 1; }
ar=$libdir/libpulsarc.a

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() {
  echo "check-symbols: FAIL: $*" >&2
  failed=1
}

# ---- the documented functions: comments and preprocessor lines dropped,
# then the name before the first "(" of each PULSARC_API declaration. Every
# PULSARC_API left must have given one name.
perl -0777 -ne '
  s{/\*.*?\*/}{ }gs; s{//[^\n]*}{}g; s{^[ \t]*#[^\n]*}{}mg;
  my $n = () = /\bPULSARC_API\b/g; my @f;
  push @f, $1 while /\bPULSARC_API\s[^;(]*?\b(pulsarc_\w+)\s*\(/g;
  die "check-symbols: $n PULSARC_API declarations but " . scalar(@f) . " function names\n"
    if $n != @f;
  print "$_\n" for @f;' "$header" | sort >"$tmp/header"
[ -s "$tmp/header" ] || { echo "check-symbols: no PULSARC_API function in $header" >&2; exit 1; }
if [ -n "$(uniq -d "$tmp/header")" ]; then
  fail "declared twice in the header: $(uniq -d "$tmp/header" | tr '\n' ' ')"
fi
sort -u -o "$tmp/header" "$tmp/header"

compare() { # <what> <file with the library's list>
  local extra missing
  extra=$(comm -13 "$tmp/header" "$2")
  missing=$(comm -23 "$tmp/header" "$2")
  if [ -n "$extra" ]; then
    fail "$1 exports what the header does not declare with PULSARC_API:"
    echo "$extra" | sed 's/^/    + /' >&2
  fi
  if [ -n "$missing" ]; then
    fail "$1 lacks functions the header declares with PULSARC_API:"
    echo "$missing" | sed 's/^/    - /' >&2
  fi
}

# ---- exports. Shared: the dynamic symbol table. Static: global defined
# symbols of every member (there is one, pulsarc_static.o).
nm -D --defined-only "$so" | awk 'NF == 3 { print $3 }' | sort -u >"$tmp/so"
compare "$(basename "$so")" "$tmp/so"
nm -g --defined-only "$ar" | awk 'NF == 3 { print $3 }' | sort -u >"$tmp/a"
compare "libpulsarc.a" "$tmp/a"

# ---- no test hook, local symbols included (a stripped library has none
# to show: then only its exports were looked at, above).
for lib in "$so" "$ar"; do
  hooks=$(nm -a "$lib" 2>/dev/null | awk 'NF >= 2 { print $NF }' |
    grep -E 'pc_test|_alias|^aliases$' | sort -u || true)
  [ -z "$hooks" ] || fail "$(basename "$lib") carries test hooks: $(echo $hooks)"
done

# ---- every documented function resolves: a program that takes the address
# of each links against the static library (with the libraries pulsarc.pc
# names) and against the shared one, and runs.
{
  echo '#include <stdio.h>'
  echo '#include "pulsarc/pulsarc.h"'
  echo 'typedef void (*fn)(void);'
  echo 'static fn const fns[] = {'
  sed 's/^\(.*\)$/  (fn)\1,/' "$tmp/header"
  echo '};'
  echo 'int main(void) {'
  echo '  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)'
  echo '    if (fns[i] == 0)'
  echo '      return 1;'
  echo '  printf("%zu functions, pulsarc_err_name(0) = %s\n", sizeof fns / sizeof fns[0],'
  echo '         pulsarc_err_name(PULSARC_OK));'
  echo '  return 0;'
  echo '}'
} >"$tmp/prog.c"
cc=${CC:-cc}
static_libs=$(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --static --libs-only-l pulsarc |
  sed 's/-lpulsarc\b//')
if ! $cc -std=gnu11 -I"$prefix/include" "$tmp/prog.c" "$ar" \
  $static_libs -o "$tmp/prog_static" 2>"$tmp/err"; then
  fail "a program using every documented function does not link against libpulsarc.a:"
  sed 's/^/    /' "$tmp/err" >&2
elif ! out=$("$tmp/prog_static"); then
  fail "the program linked against libpulsarc.a does not run"
else
  echo "check-symbols: static: $out"
fi
if ! $cc -std=gnu11 -I"$prefix/include" "$tmp/prog.c" \
  -L"$libdir" -l:"$(basename "$so")" -o "$tmp/prog_shared" 2>"$tmp/err"; then
  fail "a program using every documented function does not link against $(basename "$so"):"
  sed 's/^/    /' "$tmp/err" >&2
elif ! out=$(LD_LIBRARY_PATH=$libdir "$tmp/prog_shared"); then
  fail "the program linked against $(basename "$so") does not run"
else
  echo "check-symbols: shared: $out"
fi

if [ "$failed" != 0 ]; then
  exit 1
fi
echo "check-symbols: OK: $(wc -l <"$tmp/header") documented functions, exactly the exports of" \
  "$(basename "$so") and libpulsarc.a; no test hook in either"
