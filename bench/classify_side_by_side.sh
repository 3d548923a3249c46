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
for r in $(seq "$rounds"); do
  "$weft" --quiet --threads 1 train --task classify --data "$tmp/sst.txt" --embed 300 --hidden 150 \
      --bidirectional --pool max --dropout 0.5 --lr 0.001 --batch 32 --epochs 1 \
      --save "$tmp/c.safetensors" | sed -n 's/^epoch 1: .*| \([0-9.]*\) s, \([0-9]*\) sent\/s.*/weft classify train sent\/s: \2/p'
  OMP_NUM_THREADS=1 /usr/bin/python3 "$here/torch/classify.py" classify "$tmp/sst.txt" | sed -n 's/^train sent/torch classify train sent/p'
  "$weft" --quiet --threads 1 train --task tag --data "$tmp/ewt.conllu" --embed 100 --hidden 100 \
      --bidirectional --lowercase --dropout 0.33 --lr 0.001 --batch 32 --epochs 1 \
      --save "$tmp/t.safetensors" | sed -n 's/^epoch 1: .*| \([0-9.]*\) s, \([0-9]*\) words\/s.*/weft tag train words\/s: \2/p'
  OMP_NUM_THREADS=1 /usr/bin/python3 "$here/torch/classify.py" tag "$tmp/ewt.conllu" | sed -n 's/^train words/torch tag train words/p'
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
