#!/usr/bin/env bash
# tests/crash_safety.sh — a training run killed at random moments, and inside
# write, fsync and rename (strace's fault injection), again and again: every
# checkpoint present must load (weft eval) and resume (weft train --resume).
#
#   tests/crash_safety.sh WEFT_EXE [KILLS] [INJECTIONS]
#
# KILLS (default 6) SIGKILLs at random times into a run that saves every few
# milliseconds; INJECTIONS (default 6) runs killed or failed by strace inside
# a system call of a save (skipped when strace is missing). CI runs the
# defaults (a few seconds); docs/reliability.md gives the long run.
set -uo pipefail
weft=$(realpath "$1")
kills=${2:-6}
injections=${3:-6}
dir=$(mktemp -d /tmp/weft-crash-XXXXXX)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
export WEFT_NUM_THREADS=1
for i in $(seq 1 40); do echo "the cat sat on the mat and the dog sat on the log $i"; done > t.txt
train=(--quiet train --data t.txt --valid t.txt --level word --layers 1 --hidden 4 --embed 4
       --batch 2 --bptt 4 --epochs 100000 --optim adam --lr 0.01 --save m.st)
failures=0 checked=0

# every model and state file present loads, and the run resumes from the state
check() {
  local what=$1
  for f in m.st m.st.state; do
    [[ -e $f ]] || continue
    checked=$((checked + 1))
    if [[ $f == m.st ]]; then
      if ! "$weft" --quiet eval --model m.st --data t.txt >/dev/null 2>err.txt; then
        echo "after $what: m.st does not load: $(cat err.txt)"; failures=$((failures + 1))
      fi
    else
      cp m.st m.resume.st 2>/dev/null; cp m.st.state m.resume.st.state
      # it resumes: still training after a second (then Ctrl-C stops it), or done
      timeout -s INT 1 "$weft" --quiet train --resume m.resume.st --data t.txt --valid t.txt \
        >/dev/null 2>err.txt
      rc=$?
      if [[ $rc -ne 0 && $rc -ne 124 ]]; then
        echo "after $what: m.st.state does not resume (exit $rc): $(cat err.txt)"
        failures=$((failures + 1))
      fi
      rm -f m.resume.st m.resume.st.state m.resume.st.tmp-*
    fi
  done
}

for k in $(seq 1 "$kills"); do
  "$weft" "${train[@]}" >/dev/null 2>&1 &
  pid=$!
  sleep "0.$(( (RANDOM % 9) + 1 ))$(( RANDOM % 10 ))"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  check "SIGKILL $k"
done

if command -v strace >/dev/null && [[ $injections -gt 0 ]]; then
  calls=(write fsync rename)
  for k in $(seq 1 "$injections"); do
    call=${calls[$((k % 3))]}
    when=$(( (RANDOM % 6) + 2 ))
    # half killed inside the call, half the call failing (a full disk, an I/O error)
    if (( k % 2 )); then action="signal=SIGKILL"; else action="error=ENOSPC"; fi
    [[ $call == rename ]] && [[ $action == error=ENOSPC ]] && action="error=EIO"
    ( timeout -s KILL 30 strace -f -o /dev/null -e trace="$call" \
        -e inject="$call:$action:when=$when" "$weft" "${train[@]}" --epochs 3 >/dev/null 2>&1 \
        </dev/null ) 2>/dev/null
    check "$call:$action:when=$when"
  done
fi

# the check itself sees a damaged file (a test that cannot fail proves nothing)
if [[ -e m.st ]]; then
  head -c $(( $(stat -c %s m.st) / 2 )) m.st > half.st
  if "$weft" --quiet eval --model half.st --data t.txt >/dev/null 2>&1; then
    echo "a half checkpoint loads: the check cannot see damage"; failures=$((failures + 1))
  fi
else
  echo "no checkpoint was ever written: nothing was tested"; failures=$((failures + 1))
fi

leftover=$(ls | grep -c '\.tmp-' || true)
echo "crash safety: $kills kills, $injections injected faults, $checked checkpoints checked," \
     "$failures failures, $leftover temporary files left"
exit $(( failures > 0 ))
