#!/usr/bin/env bash
# What a user gets from the packages and from `cmake --install`, checked
# from an existing build (tools/test.sh --ci runs it as the stage "install"):
#
#   1. cpack makes the Debian packages libpulsarc1, libpulsarc-dev and
#      pulsarc-tools, with the files and Depends each should have;
#   2. they are unpacked (dpkg-deb -x) into a fresh directory, the
#      "installed system"; nothing is installed on this machine;
#   3. the unpacked pulsarc-perf runs without LD_LIBRARY_PATH (install
#      RPATH) and loads the unpacked libpulsarc.so.1;
#   4. examples/ is built against the unpacked -dev package with pkg-config
#      (shared and fully static: pkg-config --static) and with CMake
#      (find_package(pulsarc), shared and static), in an environment with
#      nothing but PATH, and the programs run against the unpacked
#      pulsarc-testbroker; examples/testbroker_test.c, a user's test, links
#      the installed test broker library (pkg-config and CMake component);
#   5. cmake --install --prefix into a fresh directory: bin/pulsarc-perf
#      --help runs without LD_LIBRARY_PATH, and no test binary is installed.
#
#   tools/check-install.sh [BUILD_DIR]     (default: build/ of this checkout)
#
# Needs cpack, dpkg-deb, pkg-config, cmake and a C compiler. Leaves its files
# in BUILD_DIR/check-install (removed first on every run).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-${PULSARC_BUILD_DIR:-$root/build}}" && pwd)
work=$build/check-install
rm -rf "$work" "$build/packages"
mkdir -p "$work"

step() { echo "---- check-install: $*"; }
die() {
  echo "check-install: FAILED: $*" >&2
  exit 1
}
# Builds and runs get nothing from the caller's environment (no
# LD_LIBRARY_PATH, PKG_CONFIG_PATH, CMAKE_PREFIX_PATH, CFLAGS...).
clean_env() { env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$work" LANG=C.UTF-8 "$@"; }
run_example() { # <program> <args...>: against the unpacked test broker
  clean_env PULSARC_EXAMPLE_TIMEOUT=120 "$root/examples/run-with-testbroker.sh" \
    "$prefix/bin/pulsarc-testbroker" --partitions example-partitioned=4 -- "$@"
}

# ---- 1. packages
step "cpack -G DEB"
(cd "$build" && cpack -G DEB --config CPackConfig.cmake >"$work/cpack.log") ||
  { cat "$work/cpack.log" >&2; die "cpack"; }
version=$(sed -n 's/^#define PULSARC_VERSION_STRING "\(.*\)"$/\1/p' "$root/include/pulsarc/pulsarc.h")
major=${version%%.*}
declare -A deb
for p in "libpulsarc$major" libpulsarc-dev pulsarc-tools; do
  f=$(ls "$build/packages/${p}_${version}-"*.deb 2>/dev/null | head -1)
  [ -n "$f" ] || die "no package $p in $build/packages: $(ls "$build/packages")"
  deb[$p]=$f
  echo "$(basename "$f"): Depends: $(dpkg-deb -f "$f" Depends)"
done
has() { # <package> <path regex>: the package contains a matching file
  dpkg-deb -c "${deb[$1]}" | awk '{print $6}' | grep -Eq "$2" || die "$1 lacks $2"
}
hasnt() { ! dpkg-deb -c "${deb[$1]}" | awk '{print $6}' | grep -Eq "$2" || die "$1 has $2"; }
has "libpulsarc$major" "/libpulsarc\.so\.$major$"
hasnt "libpulsarc$major" '\.h$|\.a$|\.pc$|/bin/'
has libpulsarc-dev '/include/pulsarc/pulsarc\.h$'
has libpulsarc-dev '/libpulsarc\.a$'
has libpulsarc-dev '/libpulsarc\.so$'
has libpulsarc-dev '/pkgconfig/pulsarc\.pc$'
has libpulsarc-dev '/cmake/pulsarc/pulsarcConfig\.cmake$'
has libpulsarc-dev '/include/pulsarc/testbroker\.h$'
has libpulsarc-dev '/libpulsarc_testbroker\.a$'
has libpulsarc-dev '/pkgconfig/pulsarc-testbroker\.pc$'
has libpulsarc-dev '/cmake/pulsarc/pulsarcTestbrokerTargets\.cmake$'
hasnt libpulsarc-dev '/libpulsarc\.so\.[0-9]|/bin/'
for t in pulsarc-perf pulsarc-produce pulsarc-testbroker; do has pulsarc-tools "/bin/$t$"; done
hasnt pulsarc-tools 'pulsarc_.*tests|pulsarc-options|\.so'
for p in libpulsarc-dev pulsarc-tools; do
  dpkg-deb -f "${deb[$p]}" Depends | grep -q "libpulsarc$major (= $version" ||
    die "$p does not depend on libpulsarc$major (= $version)"
done
if command -v dpkg-shlibdeps >/dev/null; then
  # dpkg-shlibdeps filled in what the shared library links.
  dpkg-deb -f "${deb[libpulsarc$major]}" Depends | grep -q libssl ||
    die "libpulsarc$major: no libssl in Depends"
fi

# ---- 2. unpack into a fresh directory
step "dpkg-deb -x into $work/root"
for f in "${deb[@]}"; do dpkg-deb -x "$f" "$work/root"; done
prefix=$work/root/usr
pc=$(dirname "$(find "$prefix" -name pulsarc.pc | head -1)")
[ -d "$pc" ] || die "no pulsarc.pc unpacked"
libdir=$(dirname "$pc")

# ---- 3. the tools find their library
step "unpacked pulsarc-perf --help without LD_LIBRARY_PATH"
clean_env "$prefix/bin/pulsarc-perf" --help >/dev/null || die "unpacked pulsarc-perf --help"
loads_unpacked() { # <program>: its libpulsarc.so.N is the unpacked one
  local so
  so=$(clean_env ldd "$1" | sed -n "s/^[[:space:]]*libpulsarc\.so\.$major => \([^ ]*\) .*/\1/p")
  [ -n "$so" ] && [ "$(realpath "$so")" = "$(realpath "$libdir/libpulsarc.so.$major")" ] ||
    die "$1 does not load $libdir/libpulsarc.so.$major: $(ldd "$1")"
}
loads_unpacked "$prefix/bin/pulsarc-perf"

# ---- 4. examples against the unpacked -dev package
pkgconf() { clean_env PKG_CONFIG_PATH="$pc" pkg-config --define-prefix "$@" pulsarc; }
src=$root/examples
step "pkg-config: $(pkgconf --cflags --libs)"
# shellcheck disable=SC2046 # word splitting of pkg-config's flags is wanted
clean_env cc -std=gnu11 -Wall -Werror -o "$work/blocking_send_pc" "$src/blocking_send.c" \
  $(pkgconf --cflags --libs) -Wl,-rpath,"$libdir" || die "pkg-config build (shared)"
run_example "$work/blocking_send_pc" @URL@ installed-pkgconfig 5 || die "blocking_send (pkg-config)"

step "pkg-config --static: $(pkgconf --static --libs)"
# shellcheck disable=SC2046
clean_env cc -std=gnu11 -Wall -Werror -static -o "$work/blocking_send_static" \
  "$src/blocking_send.c" $(pkgconf --cflags --static --libs) 2>"$work/static-link.log" ||
  { cat "$work/static-link.log" >&2; die "fully static link with pkg-config --static"; }
# glibc warns that getaddrinfo, gethostbyname and dlopen (OpenSSL's) in a
# static program load shared NSS modules at run time: expected. Any other
# warning is not.
grep 'warning:' "$work/static-link.log" |
  grep -v 'in statically linked applications requires at runtime' | grep -q . &&
  { cat "$work/static-link.log" >&2; die "static link warnings"; }
# No program interpreter: nothing is loaded at start.
! readelf -l "$work/blocking_send_static" | grep -q INTERP || die "blocking_send_static is not static"
run_example "$work/blocking_send_static" @URL@ installed-static 5 || die "blocking_send (static)"

step "pkg-config pulsarc pulsarc-testbroker: a user's test with the in-process broker"
# shellcheck disable=SC2046
clean_env cc -std=gnu11 -Wall -Werror -o "$work/testbroker_test_pc" "$src/testbroker_test.c" \
  $(pkgconf --cflags --libs pulsarc-testbroker) -Wl,-rpath,"$libdir" ||
  die "pkg-config build of testbroker_test"
clean_env "$work/testbroker_test_pc" || die "testbroker_test (pkg-config)"

for link in shared static; do
  step "CMake find_package(pulsarc), $link library"
  clean_env cmake -S "$src" -B "$work/examples-$link" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" -DPULSARC_EXAMPLES_LINK=$link >"$work/examples-$link.log" ||
    { cat "$work/examples-$link.log" >&2; die "cmake configure of examples ($link)"; }
  clean_env cmake --build "$work/examples-$link" >>"$work/examples-$link.log" ||
    { cat "$work/examples-$link.log" >&2; die "cmake build of examples ($link)"; }
done
loads_unpacked "$work/examples-shared/example_futures"
run_example "$work/examples-shared/example_futures" @URL@ installed-cmake 200 ||
  die "futures (CMake, shared)"
run_example "$work/examples-static/example_partitioned_keys" @URL@ example-partitioned 4 5 ||
  die "partitioned_keys (CMake, static)"
# find_package(pulsarc COMPONENTS testbroker) found the installed broker.
clean_env "$work/examples-static/example_testbroker_test" || die "testbroker_test (CMake, static)"

# ---- 5. cmake --install --prefix
step "cmake --install $build --prefix $work/prefix"
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log"
clean_env "$work/prefix/bin/pulsarc-perf" --help >/dev/null ||
  die "$work/prefix/bin/pulsarc-perf --help without LD_LIBRARY_PATH"
installed_bins=$(ls "$work/prefix/bin" | tr '\n' ' ')
[ "$installed_bins" = "pulsarc-perf pulsarc-produce pulsarc-testbroker " ] ||
  die "cmake --install put unexpected programs in bin/: $installed_bins"
grep -Eq 'tests|example_' "$work/install.log" && die "cmake --install installed test files"

step "all checks passed"
