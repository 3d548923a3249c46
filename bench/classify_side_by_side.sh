#!/bin/sh
# weft against PyTorch (bench/torch/classify.py, packed sequences) on the
# bi-LSTM classifier and tagger of docs/classify.md: one epoch of training
# over the first N examples, one thread, in interleaved rounds; prints each
# one's training throughput (sentences a second, training steps only).
#
#     bench/classify_side_by_side.sh WEFT SST_TRAIN EWT_TRAIN [N] [ROUNDS]
set -e
weft=$1 sst=$2 ewt=$3 n=${4:-1000} rounds=${5:-2}
here=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -n "$n" "$sst" > "$tmp/sst.txt"
# the first n sentences of the CoNLL-U file
awk -v n="$n" 'BEGIN { s = 0 } { print } /^$/ { if (++s >= n) exit }' "$ewt" > "$tmp/ewt.conllu"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
# wall-clock rates say how busy the shared machine was; the CPU seconds of each
# process's training (weft's epoch line, torch's time.process_time) are the work
rate() {   # $1: weft's output (stderr and stdout); $2: sentences or words; prints per CPU-s
  n=$(sed -n "s/.*, \([0-9]*\) sentences, \([0-9]*\) words;.*/\1 \2/p" "$1")
  cpu=$(sed -n 's/^epoch 1: .*| \([0-9.]*\) CPU s.*/\1/p' "$1")
  set -- $n "$cpu" "$2"
  if [ "$4" = words ]; then echo "$2 / $3" | bc -l; else echo "$1 / $3" | bc -l; fi
}
for r in $(seq "$rounds"); do
  "$weft" --quiet --threads 1 train --task classify --data "$tmp/sst.txt" --embed 300 --hidden 150 \
      --bidirectional --pool max --dropout 0.5 --lr 0.001 --batch 32 --epochs 1 \
      --save "$tmp/c.safetensors" > "$tmp/out" 2>&1
  sed -n 's/^epoch 1: .*| \([0-9.]*\) s, \([0-9]*\) sent\/s.*/weft classify train sent\/s: \2/p' "$tmp/out"
  printf 'weft classify train sent/CPU-s: %.1f\n' "$(rate "$tmp/out" sentences)"
  OMP_NUM_THREADS=1 /usr/bin/python3 "$here/torch/classify.py" classify "$tmp/sst.txt" | sed -n 's/^train sent/torch classify train sent/p'
  "$weft" --quiet --threads 1 train --task tag --data "$tmp/ewt.conllu" --embed 100 --hidden 100 \
      --bidirectional --lowercase --dropout 0.33 --lr 0.001 --batch 32 --epochs 1 \
      --save "$tmp/t.safetensors" > "$tmp/out" 2>&1
  sed -n 's/^epoch 1: .*| \([0-9.]*\) s, \([0-9]*\) words\/s.*/weft tag train words\/s: \2/p' "$tmp/out"
  printf 'weft tag train words/CPU-s: %.1f\n' "$(rate "$tmp/out" words)"
  OMP_NUM_THREADS=1 /usr/bin/python3 "$here/torch/classify.py" tag "$tmp/ewt.conllu" | sed -n 's/^train words/torch tag train words/p'
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
