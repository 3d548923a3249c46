#!/usr/bin/env bash
# tests/install_check.sh MESON BUILD_DIR SOURCE_DIR — weft as a user gets it: `meson install`
# into a temporary root (--destdir), then programs built against that tree with pkg-config
# alone, and run: examples/train_xor.c in C against libweft.so and against libweft.a
# (pkg-config --static), examples/hello.cpp in C++. Also: the installed weft and libweft.so
# load BLIS from the folder the build linked (their run path), the headers compile one by one
# in C and C++, and the conversion scripts are installed.
set -euo pipefail
meson=$1 build=$(cd "$2" && pwd) src=$(cd "$3" && pwd)
cc=${CC:-cc} cxx=${CXX:-c++}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
fail() { echo "install_check: $*" >&2; exit 1; }

"$meson" install -C "$build" --no-rebuild --destdir "$root/dest" >"$root/install.log" 2>&1 ||
  { cat "$root/install.log" >&2; fail "meson install failed"; }
pc=$(find "$root/dest" -name weft.pc -print -quit)
[[ -n "$pc" ]] || fail "no weft.pc installed"
# weft.pc as installed, its prefix moved under the temporary root
prefix=$(pkg-config --variable=prefix "$pc")
pkg-config() { command pkg-config --define-variable=prefix="$root/dest$prefix" "$@"; }
export PKG_CONFIG_PATH=$(dirname "$pc")
unset LD_LIBRARY_PATH   # meson test points it at the build tree
libdir=$(dirname "$(dirname "$pc")")
bindir=$(dirname "$(find "$root/dest" -path '*/bin/weft' -print -quit)")
[[ -x "$bindir/weft" ]] || fail "no weft program installed"
for s in weft-lm-torch-to-weft weft-lm-weft-to-torch weft-to-torch; do
  [[ -x "$bindir/$s" ]] || fail "$s not installed in $bindir"
done

# The run paths: the installed program and library load the OpenMP build of BLIS
blis_dir=$(readelf -d "$build/src/cli/weft" | sed -n 's/.*R\(UN\)\?PATH.*\[\(.*\)\]/\2/p' | tr ':' '\n' | grep blis || true)
[[ -n "$blis_dir" ]] || fail "the build-tree weft has no run path to BLIS"
for f in "$bindir/weft" "$libdir"/libweft.so.*.*.*; do
  readelf -d "$f" | grep -q "PATH.*$blis_dir" || fail "$f has no run path to $blis_dir"
done
blis_lib=$(LD_LIBRARY_PATH="$libdir" ldd "$bindir/weft" | awk '/libblis/ {print $3}')
[[ "$blis_lib" == "$blis_dir"/* ]] || fail "installed weft loads BLIS from $blis_lib, not $blis_dir"
"$bindir/weft" info --quiet >/dev/null || fail "the installed weft does not run"

cd "$root"
# The programs docs/library.md shows are the ones built below, character for character
for f in examples/hello.cpp examples/train_xor.c; do
  awk -v f="$f" '
    /^```/ { if (inb) { if (hit) exit; inb = 0 } else { inb = 1; first = 1 }; next }
    inb && first { first = 0; hit = index($0, f) > 0 }
    inb && hit { print }' "$src/docs/library.md" >shown
  cmp -s shown "$src/$f" || fail "docs/library.md does not show $f as it is"
done
# Every public header on its own, in C and in C++
headers=0
for h in "$root/dest"/*/*/include/weft/*.h "$root/dest"/*/include/weft/*.h; do
  [[ -f "$h" ]] || continue
  headers=$((headers + 1))
  echo "#include \"weft/$(basename "$h")\"" >one.c
  $cc -std=c11 -Wall -Wextra -Werror -fsyntax-only $(pkg-config --cflags weft) one.c ||
    fail "$(basename "$h") does not compile on its own in C"
  $cxx -std=c++11 -Wall -Wextra -Werror -fsyntax-only -x c++ $(pkg-config --cflags weft) one.c ||
    fail "$(basename "$h") does not compile in C++"
done
(( headers >= 20 )) || fail "only $headers headers installed"

# C against the shared library
$cc -std=c11 -O1 "$src/examples/train_xor.c" -o xor_shared $(pkg-config --cflags --libs weft) ||
  fail "examples/train_xor.c does not build with pkg-config --cflags --libs weft"
LD_LIBRARY_PATH="$libdir" ./xor_shared >xor_shared.out || fail "xor_shared failed: $(cat xor_shared.out)"
grep -q '^best valid accuracy 1.000' xor_shared.out || fail "xor_shared: $(tail -1 xor_shared.out)"

# C against the static library: pkg-config --static gives BLIS, OpenMP, cJSON, gvc/cgraph
static_libs=$(pkg-config --static --libs weft | sed 's/-lweft\b/-l:libweft.a/')
$cc -std=c11 -O1 "$src/examples/train_xor.c" -o xor_static $(pkg-config --cflags weft) $static_libs ||
  fail "examples/train_xor.c does not link statically with: $static_libs"
readelf -d xor_static | grep -q 'libweft\.so' && fail "xor_static still needs libweft.so"
./xor_static >xor_static.out || fail "xor_static failed: $(cat xor_static.out)"
cmp -s xor_shared.out xor_static.out || fail "the static and shared builds print different runs"

# C++ against the shared library
$cxx -std=c++17 -Wall -Wextra -Werror "$src/examples/hello.cpp" -o hello $(pkg-config --cflags --libs weft) ||
  fail "examples/hello.cpp does not build"
LD_LIBRARY_PATH="$libdir" ./hello >hello.out || fail "hello failed: $(cat hello.out)"
grep -q '^loss ' hello.out || fail "hello printed: $(cat hello.out)"
echo "installed into $root/dest: $headers headers compiled alone in C and C++; C (shared, static)"
echo "and C++ programs built with pkg-config and run; weft and libweft.so load $blis_lib"
cat hello.out
