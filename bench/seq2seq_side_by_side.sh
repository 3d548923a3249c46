#!/bin/sh
# weft against PyTorch (bench/torch/seq2seq.py) on the attention
# encoder-decoder of docs/seq2seq.md at the Multi30k sizes (bi-GRU encoder,
# GRU decoder, additive attention, input feeding, embed = hidden = 128, batches
# of 64): one epoch of training over the first N sentence pairs, one thread,
# in interleaved rounds; prints each one's training throughput (target tokens
# with </s> a second, the training steps alone).
#
#     bench/seq2seq_side_by_side.sh WEFT TRAIN.de TRAIN.en [N] [ROUNDS]
set -e
weft=$1 src=$2 tgt=$3 n=${4:-2000} rounds=${5:-2}
here=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -n "$n" "$src" > "$tmp/src.txt"
head -n "$n" "$tgt" > "$tmp/tgt.txt"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
  "$weft" --threads 1 train --task seq2seq --src "$tmp/src.txt" --tgt "$tmp/tgt.txt" \
      --min-count 2 --cell gru --bidirectional --attention additive --embed 128 --hidden 128 \
      --batch 64 --epochs 1 --lr 0.001 --clip 5 --save "$tmp/m.safetensors" 2>&1 |
      sed -n 's/^epoch 1: .*| \([0-9.]*\) s, \([0-9]*\) tok\/s.*/weft seq2seq train tok\/s: \2/p'
  OMP_NUM_THREADS=1 /usr/bin/python3 "$here/torch/seq2seq.py" "$tmp/src.txt" "$tmp/tgt.txt" \
      --cell gru --attention additive --embed 128 --hidden 128 --batch 64 |
      sed -n 's/^train tok/torch seq2seq train tok/p'
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
