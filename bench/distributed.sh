#!/usr/bin/env bash
# Scaling of data-parallel training on this machine, side by side in one run:
# 1 rank x 1 thread, 2 ranks x 1 thread (the gradient reduced in buckets while the backward
# runs, the default), 2 ranks x 1 thread with one MPI_Allreduce after the backward
# (WEFT_BUCKET_MB=0), 1 rank x 2 threads, interleaved (A B C D A B C D ...), on the PTB small
# and medium LSTM language models (Zaremba et al. 2014), the window LM (examples, shuffled)
# and the SST-2 sentence classifier (an LSTM over each sentence, max-pooled; examples). Short
# runs (--stop-after windows or batches); the speeds are the trainer's (training time only,
# reading the data not counted), and the MPI share is the trainer's own timing on rank 0 of
# what the gradients' average waits for after the backward (with buckets, the sums still in
# flight then; without, the whole MPI_Allreduce).
#   bench/distributed.sh DATA_DIR [ROUNDS] [SST_DIR]
# DATA_DIR holds ptb.train.txt and ptb.valid.txt; SST_DIR stsa.binary.train and
# stsa.binary.dev (default DATA_DIR/../sst). Needs weft built with MPI
# (scripts/install-deps.sh --with-mpi); WEFT=path picks the binary (build/src/cli/weft).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: bench/distributed.sh DATA_DIR [ROUNDS]}
rounds=${2:-2}
sst=${3:-$data/../sst}
exe=${WEFT:-build/src/cli/weft}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

small="--layers 2 --hidden 200 --embed 200 --batch 20 --bptt 20 --dropout 0 --lr 20 --clip 0.25 --init 0.1 --stop-after 20"
medium="--layers 2 --hidden 650 --embed 650 --batch 20 --bptt 35 --dropout 0.5 --lr 20 --clip 0.25 --init 0.05 --stop-after 4"
window="--task window-lm --order 5 --embed 60 --hidden 100 --batch 256 --stop-after 100"
classify="--task classify --batch 32 --stop-after 60"

# one run: prints "speed mpi%"
one() {  # ranks threads bucket_mb model flags...
  local ranks=$1 threads=$2 bucket=$3 model=$4; shift 4
  local log="$out/log" files
  if [[ $model == classify ]]; then
    files=(--data "$sst/stsa.binary.train" --valid "$sst/stsa.binary.dev")
  else
    files=(--data "$data/ptb.train.txt" --valid "$data/ptb.valid.txt")
  fi
  if [[ $ranks == 1 ]]; then
    "$exe" --quiet --threads "$threads" train "${files[@]}" "$@" --save "$out/m.st" \
      > /dev/null 2> "$log"
    awk '/^trained / && /\/s\)/ {gsub(/[(]/, "", $7); print $7, "-"}' "$log"
  else
    WEFT_BUCKET_MB=$bucket mpirun --oversubscribe -x WEFT_BUCKET_MB -np "$ranks" "$exe" --quiet \
      --threads "$threads" train "${files[@]}" "$@" --save "$out/m.st" --distributed \
      > /dev/null 2> "$log"
    awk '/^distributed: / {gsub(/[(]/, "", $11); gsub(/[()%]/, "", $NF); print $11, $NF}' "$log"
  fi
}

echo "load: $(uptime)"
printf "%-8s %-34s %12s %8s\n" model config "speed" "MPI %"
for model in small medium window classify; do
  flags=${!model}
  for r in $(seq "$rounds"); do
    for cfg in "1 1 4" "2 1 4" "2 1 0" "1 2 4"; do
      set -- $cfg
      read -r speed share < <(one "$1" "$2" "$3" "$model" $flags)
      name="$1 rank x $2 thread"
      [[ $1 != 1 && $3 == 0 ]] && name="$name, one allreduce"
      [[ $1 != 1 && $3 != 0 ]] && name="$name, buckets"
      printf "%-8s %-34s %12s %8s\n" "$model" "$name" "$speed" "$share"
    done
  done
done
echo "load: $(uptime)"
