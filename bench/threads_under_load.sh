#!/usr/bin/env bash
# Two threads beside a busy process, against one thread, weft and PyTorch, in one run.
#
#   bench/threads_under_load.sh DATA_DIR [ROUNDS] [WINDOWS]
#
# Starts one busy process (a shell loop) pinned to the last core, then runs, interleaved
# round after round:
#   weft 1 thread, weft 2 threads, weft 2 threads with WEFT_ADAPT_THREADS=0 (no tuner),
#   PyTorch 1 thread, PyTorch 2 threads
# on the PTB small language model (2 x 200 LSTM, batch 20, bptt 20, no dropout): weft trains on
# DATA_DIR/ptb.train.txt for WINDOWS windows (default 100) and prints the trainer's tokens/s;
# PyTorch runs bench/torch/lm.py --config small (the same model and step on random tokens).
# The busy process is stopped (by its process id) when the script ends. Prints the tokens/s of
# every run and, per program, the median of 2 threads / 1 thread: at least 1 means the second
# thread does not hurt. LOAD=0 in the environment runs the same without the busy process.
# Needs build/src/cli/weft (WEFT=path to use another) and /usr/bin/python3 with torch.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: bench/threads_under_load.sh DATA_DIR [ROUNDS] [WINDOWS]}
rounds=${2:-3}
windows=${3:-100}
exe=${WEFT:-build/src/cli/weft}
py=/usr/bin/python3
out=$(mktemp -d)
busy=
cleanup() {
  [[ -n "$busy" ]] && kill "$busy" 2>/dev/null
  rm -rf "$out"
}
trap cleanup EXIT

cores=$(nproc)
if [[ ${LOAD:-1} != 0 ]]; then
  taskset -c $((cores - 1)) bash -c 'while :; do :; done' &
  busy=$!
  echo "busy process $busy pinned to core $((cores - 1)) of $cores"
else
  echo "no busy process (LOAD=0)"
fi

small="--layers 2 --hidden 200 --embed 200 --batch 20 --bptt 20 --dropout 0 --lr 20 --clip 0.25 --init 0.1"

weft_run() {  # threads [env...] -> tokens/s
  local threads=$1; shift
  env "$@" "$exe" --quiet --threads "$threads" train --data "$data/ptb.train.txt" \
    --valid "$data/ptb.valid.txt" $small --stop-after "$windows" --save "$out/m.st" \
    > /dev/null 2> "$out/log"
  awk '/^trained / {gsub(/[(]/, "", $7); print $7}' "$out/log"
}

torch_run() {  # threads -> tokens/s
  OMP_NUM_THREADS=$1 "$py" bench/torch/lm.py --config small --threads "$1" --steps 30 \
    --warmup 2 2> /dev/null | awk '/^tokens\/s:/ {print $2}'
}

echo "load before: $(uptime)"
printf "%-6s %-34s %10s\n" round run "tokens/s"
declare -A all
for r in $(seq "$rounds"); do
  for cfg in "weft-1" "weft-2" "weft-2-fixed" "torch-1" "torch-2"; do
    case $cfg in
      weft-1) v=$(weft_run 1) ;;
      weft-2) v=$(weft_run 2) ;;
      weft-2-fixed) v=$(weft_run 2 WEFT_ADAPT_THREADS=0) ;;
      torch-1) v=$(torch_run 1) ;;
      torch-2) v=$(torch_run 2) ;;
    esac
    all[$cfg]="${all[$cfg]:-} $v"
    printf "%-6s %-34s %10s\n" "$r" "$cfg" "$v"
  done
done
echo "load after: $(uptime)"

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo
echo "| program | 1 thread tok/s | 2 threads tok/s | 2 threads / 1 thread |"
echo "| --- | ---: | ---: | ---: |"
for p in "weft:weft-1:weft-2" "weft, no tuner (WEFT_ADAPT_THREADS=0):weft-1:weft-2-fixed" \
         "PyTorch 1.13:torch-1:torch-2"; do
  IFS=: read -r name one two <<< "$p"
  a=$(echo "${all[$one]}" | median); b=$(echo "${all[$two]}" | median)
  printf "| %s | %.0f | %.0f | %.2f |\n" "$name" "$a" "$b" "$(echo "$b / $a" | bc -l)"
done
