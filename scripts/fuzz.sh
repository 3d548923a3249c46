#!/usr/bin/env bash
# Build the libFuzzer harnesses of fuzz/ (clang, ASan + UBSan, in build-fuzz/)
# and run each for a bounded time, one process at a time.
#
#   scripts/fuzz.sh [--seconds S] [--jobs J] [--keep DIR] [NAME...]
#
#   --seconds S   seconds per harness (default 60)
#   --jobs J      libFuzzer worker processes per harness (default 1)
#   --keep DIR    grow the corpus in DIR/NAME (default: a temporary copy of
#                 fuzz/corpus/NAME, so the committed seeds stay as they are)
#   NAME...       harnesses to run (default: every fuzz/fuzz_*.c)
#   WEFT_FUZZ_BUILD=DIR  build in DIR instead of build-fuzz/
#
# Prints one line per harness (executions, corpus, crashes); exits 1 when any
# harness found a crash, a leak, a timeout or an out-of-memory (its reproducer
# is kept in build-fuzz/findings/NAME/), 2 on bad usage.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60 jobs=1 keep=""
names=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --keep) keep="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
  esac
done
if [[ ${#names[@]} -eq 0 ]]; then
  for f in fuzz/fuzz_*.c; do n=${f#fuzz/fuzz_}; names+=("${n%.c}"); done
fi

command -v clang >/dev/null || scripts/install-deps.sh
dir=${WEFT_FUZZ_BUILD:-build-fuzz}   # another folder for a long run beside short ones
opts=(-Dfuzz=true -Db_sanitize=address,undefined -Dbuildtype=debugoptimized -Db_lundef=false
      -Dnative=false -Dtests=false)
if [[ -f "$dir/build.ninja" ]]; then
  meson setup --reconfigure "$dir" "${opts[@]}" >/dev/null 2>&1
else
  CC=clang meson setup "$dir" "${opts[@]}" >/dev/null 2>&1
fi
ninja -C "$dir" >"$dir/ninja.log" 2>&1 || { cat "$dir/ninja.log" >&2; exit 1; }

# one thread: the harnesses read files, they do not train
export WEFT_NUM_THREADS=1 OMP_NUM_THREADS=1
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0
for name in "${names[@]}"; do
  exe="$dir/fuzz/fuzz_$name"
  [[ -x "$exe" ]] || { echo "fuzz.sh: no harness $name ($exe)" >&2; exit 2; }
  if [[ -n "$keep" ]]; then
    work="$keep/$name"
    mkdir -p "$work"
  else
    work=$(mktemp -d)
  fi
  cp -n fuzz/corpus/"$name"/* "$work"/ 2>/dev/null || true
  findings="$dir/findings/$name"
  mkdir -p "$findings"
  log="$dir/fuzz-$name.log"
  supp=""
  [[ -f fuzz/$name.ubsan.supp ]] && supp=":suppressions=$PWD/fuzz/$name.ubsan.supp"
  rc=0
  parallel=()
  [[ "$jobs" -gt 1 ]] && parallel=(-jobs="$jobs" -workers="$jobs")
  # -rss_limit_mb: a reader that allocates without bound is a finding;
  # -timeout: so is one input that takes more than 10 s
  UBSAN_OPTIONS="$UBSAN_OPTIONS$supp" "$exe" "$work" -dict=fuzz/dict/"$name".dict -max_total_time="$seconds" \
    "${parallel[@]}" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
    -max_len=65536 -print_final_stats=1 -close_fd_mask=1 \
    -artifact_prefix="$findings/" >"$log" 2>&1 || rc=$?
  if [[ "$jobs" -gt 1 ]]; then cat fuzz-*.log >>"$log" 2>/dev/null && rm -f fuzz-*.log; fi
  execs=$(awk '/stat::number_of_executed_units/ {n += $2} END {print n + 0}' "$log")
  units=$(ls "$work" | wc -l)
  found=$(ls "$findings" | wc -l)
  printf 'fuzz %-10s %10d executions in %ss, corpus %d, findings %d%s\n' "$name" "$execs" \
    "$seconds" "$units" "$found" "$([[ $rc -ne 0 || $found -ne 0 ]] && echo " (see $log)")"
  if [[ $rc -ne 0 || $found -ne 0 ]]; then status=1; fi
  [[ -n "$keep" ]] || rm -rf "$work"
done
exit $status
