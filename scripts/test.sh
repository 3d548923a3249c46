#!/usr/bin/env bash
# Install what is missing, build weft with warnings as errors and run the whole test suite.
#   scripts/test.sh            the normal (release) build, in build/
#   scripts/test.sh --sanitize the same suite under AddressSanitizer + UndefinedBehaviorSanitizer,
#                              in build-asan/, built for any x86-64 (-Dnative=false), so the
#                              baseline code paths are tested too
set -euo pipefail
cd "$(dirname "$0")/.."

# Open MPI too, so that the distributed suites (tests/meson.build, when MPI is found) run
scripts/install-deps.sh --with-mpi

dir=build
opts=(-Dwerror=true)
# One suite at a time: each suite already uses every core (OpenMP + BLIS), and two of them at
# once oversubscribe the cores, where OpenMP's spinning threads slow everything down badly.
test_args=(--num-processes 1)
if [[ "${1:-}" == "--sanitize" ]]; then
  dir=build-asan
  opts+=(-Db_sanitize=address,undefined -Dbuildtype=debug -Db_lundef=false -Dnative=false)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  test_args+=(--timeout-multiplier 4)
fi

if [[ -f "$dir/build.ninja" ]]; then
  meson setup --reconfigure "$dir" "${opts[@]}" >/dev/null
else
  meson setup "$dir" "${opts[@]}" >/dev/null
fi
ninja -C "$dir"
log="$dir/meson-logs/test-summary.txt"
status=0
meson test -C "$dir" --print-errorlogs "${test_args[@]}" ${MESON_TEST_ARGS:-} | tee "$log" || status=$?
# The suites of the fused steps and the packed products, again on every other micro-kernel this CPU
# has (WEFT_PACKED_KERNEL: weft's AVX-512 and AVX2 tiles, BLIS's; the default 'auto' mixes weft's
# and BLIS's by shape on an AVX2 CPU, so both run again there); tests/test_kernels.c loops over
# all of them itself. A few seconds each.
exe="$dir/src/cli/weft"
default=$("$exe" info --quiet | awk '$1 == "packed" {print $2}')
for kernel in weft-avx512 weft-avx2 blis; do
  [[ "$kernel" == "$default" ]] && continue
  WEFT_PACKED_KERNEL=$kernel "$exe" --quiet info >/dev/null 2>&1 || continue
  echo "== again with WEFT_PACKED_KERNEL=$kernel (the default here: $default)"
  WEFT_PACKED_KERNEL=$kernel meson test -C "$dir" --print-errorlogs "${test_args[@]}" \
    fused deferred lmstep || status=$?
done
ok=$(awk '/^Ok:/ {print $2}' "$log")
failed=$(awk '/^(Fail|Timeout|Unexpected Pass):/ {n += $NF} END {print n + 0}' "$log")
skipped=$(awk '/^Skipped:/ {print $2}' "$log")
echo "tests: ${ok:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
exit $status
