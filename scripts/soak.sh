#!/usr/bin/env bash
# A soak (docs/reliability.md): `weft train` for a fixed wall time under a memory
# watch. The resident set size (VmRSS) is read every few seconds; at the end the
# run is stopped as a scheduler would (SIGTERM: it saves and exits), and the RSS
# after the first epoch must stay flat: its highest value no more than
# max(2%, 4 MiB) above its value when epoch 1 ended.
#
#   scripts/soak.sh [--minutes M] [--every S] [--out DIR] WEFT -- TRAIN-FLAGS...
#
#   --minutes M  how long to train (default 60)
#   --every S    seconds between RSS readings (default 5)
#   --out DIR    where the model, its log, rss.csv and the verdict go (default soak-out)
#   WEFT         the weft program; TRAIN-FLAGS are weft train's (--epochs large enough to
#                outlast M minutes; --save is set to DIR/soak.safetensors)
#
# Prints the verdict and the figures, and exits 0 when the RSS stayed flat, 1 when
# it grew (or the run failed), 2 on bad usage. Example (docs/reliability.md):
#
#   nice -n 10 scripts/soak.sh --minutes 60 build/src/cli/weft -- --threads 1 \
#       --data ../shared/data/ptb/ptb.train.txt --valid ../shared/data/ptb/ptb.valid.txt \
#       --layers 2 --hidden 64 --embed 64 --batch 20 --bptt 35 --epochs 1000
set -euo pipefail

minutes=60 every=5 out=soak-out
while [[ $# -gt 0 ]]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --every) every="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    --) shift; break ;;
    -*) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
    *) weft="$1"; shift ;;
  esac
done
[[ -n "${weft:-}" && -x "$weft" ]] || { echo "soak.sh: give the weft program (see --help)" >&2; exit 2; }
[[ $# -gt 0 ]] || { echo "soak.sh: give weft train's flags after --" >&2; exit 2; }
mkdir -p "$out"

# global flags (--threads N, --quiet) go before the command
global=()
while [[ $# -gt 0 && ( "$1" == --threads || "$1" == --quiet ) ]]; do
  if [[ "$1" == --threads ]]; then global+=("$1" "$2"); shift 2; else global+=("$1"); shift; fi
done
"$weft" "${global[@]}" train "$@" --save "$out/soak.safetensors" --log "$out/log.csv" \
  >"$out/stdout.txt" 2>"$out/stderr.txt" &
pid=$!
start=$(date +%s)
deadline=$((start + minutes * 60))
echo "seconds,epochs_done,rss_kib" >"$out/rss.csv"
while kill -0 "$pid" 2>/dev/null && [[ $(date +%s) -lt $deadline ]]; do
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  epochs=$(grep -c '^epoch [0-9]*:' "$out/stdout.txt" || true)
  [[ -n "$rss" ]] && echo "$(( $(date +%s) - start )),$epochs,$rss" >>"$out/rss.csv"
  sleep "$every"
done
status=0
if kill -0 "$pid" 2>/dev/null; then
  kill -TERM "$pid"
  wait "$pid" || status=$?
else
  wait "$pid" || status=$?
  echo "soak.sh: weft train ended before the deadline (exit $status): $out/stderr.txt" >&2
fi

# the verdict: RSS when epoch 1 had ended (the first reading with one epoch done), the
# highest after it, the last
awk -F, -v status="$status" -v minutes="$minutes" '
  NR == 1 { next }
  { last = $3; n++ }
  $2 >= 1 && base == "" { base = $3; base_t = $1 }
  $2 >= 1 && $3 > peak { peak = $3; peak_t = $1 }
  END {
    epochs = $2
    if (base == "") { print "soak: no epoch ended within " minutes " minutes: nothing to judge"; exit 1 }
    allowed = base * 0.02 > 4096 ? base * 0.02 : 4096
    flat = peak - base <= allowed
    printf "soak: %d min, %d epochs, %d readings, exit %d after SIGTERM (143: saved, then ended by the signal)\n", minutes, epochs, n, status
    printf "soak: RSS after epoch 1 %.1f MiB (at %d s), highest after it %.1f MiB (at %d s), last %.1f MiB\n",
           base / 1024, base_t, peak / 1024, peak_t, last / 1024
    printf "soak: growth %+.2f MiB (allowed %.1f MiB): %s\n", (peak - base) / 1024, allowed / 1024,
           flat ? "flat" : "GROWS"
    exit !(flat && (status == 0 || status == 143))   # 143: it saved and died of SIGTERM, as it should
  }' "$out/rss.csv" >"$out/verdict.txt" || rc=$?
cat "$out/verdict.txt"
exit "${rc:-0}"
