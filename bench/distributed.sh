#!/usr/bin/env bash
# Scaling of data-parallel training on this machine, side by side in one run:
# 1 rank x 1 thread, 2 ranks x 1 thread, 1 rank x 2 threads, interleaved (A B C A B C ...),
# on the PTB small and medium LSTM language models (Zaremba et al. 2014) and the window LM
# (examples, shuffled). Short runs (--stop-after windows); the tokens/s are the trainer's
# (training time only, reading the data not counted), and the MPI_Allreduce share is the
# trainer's own timing of the gradient average on rank 0.
#   bench/distributed.sh DATA_DIR [ROUNDS]     DATA_DIR holds ptb.train.txt and ptb.valid.txt
# Needs weft built with MPI (scripts/install-deps.sh --with-mpi; build/src/cli/weft).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: bench/distributed.sh DATA_DIR [ROUNDS]}
rounds=${2:-2}
exe=build/src/cli/weft
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

small="--layers 2 --hidden 200 --embed 200 --batch 20 --bptt 20 --dropout 0 --lr 20 --clip 0.25 --init 0.1 --stop-after 60"
medium="--layers 2 --hidden 650 --embed 650 --batch 20 --bptt 35 --dropout 0.5 --lr 20 --clip 0.25 --init 0.05 --stop-after 12"
window="--task window-lm --order 5 --embed 60 --hidden 100 --batch 256 --stop-after 300"

# one run: prints "tok/s allreduce%"
one() {  # ranks threads flags...
  local ranks=$1 threads=$2; shift 2
  local log="$out/log"
  if [[ $ranks == 1 ]]; then
    "$exe" --quiet --threads "$threads" train --data "$data/ptb.train.txt" \
      --valid "$data/ptb.valid.txt" "$@" --save "$out/m.st" > /dev/null 2> "$log"
    awk '/^trained / {gsub(/[(]/, "", $7); print $7, "-"}' "$log"
  else
    mpirun --oversubscribe -np "$ranks" "$exe" --quiet --threads "$threads" train \
      --data "$data/ptb.train.txt" --valid "$data/ptb.valid.txt" "$@" --save "$out/m.st" \
      --distributed > /dev/null 2> "$log"
    awk '/^distributed: / {gsub(/[(]/, "", $11); gsub(/[()%]/, "", $NF); print $11, $NF}' "$log"
  fi
}

echo "load: $(uptime)"
printf "%-8s %-18s %12s %12s\n" model config "tok/s" "allreduce %"
for model in small medium window; do
  flags=${!model}
  for r in $(seq "$rounds"); do
    for cfg in "1 1" "2 1" "1 2"; do
      set -- $cfg
      read -r speed share < <(one "$1" "$2" $flags)
      printf "%-8s %-18s %12s %12s\n" "$model" "$1 rank x $2 thread" "$speed" "$share"
    done
  done
done
echo "load: $(uptime)"
