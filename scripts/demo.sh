#!/usr/bin/env bash
# The first thing to run: install what is missing, build weft, train a character-level LSTM on
# the word list Debian ships (/usr/share/dict/american-english, package wamerican) so that it
# learns to invent English-looking words, print some of them, and draw the model unrolled in
# time as SVG. A few minutes on 2 cores.
#
#   bash scripts/demo.sh                 everything, in build/ (the results in build/demo/)
#   DEMO_EPOCHS=1 bash scripts/demo.sh   a shorter run
#   BUILD_DIR=... DEMO_DIR=...           other folders
#
# The words are shuffled; every ninth is held out for validation (valid.txt), the rest is the
# training text (train.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

build=${BUILD_DIR:-build}
if [[ -f "$build/build.ninja" ]]; then
  meson setup --reconfigure "$build" >/dev/null
else
  meson setup "$build" >/dev/null
fi
ninja -C "$build" >/dev/null
weft=$build/src/cli/weft

words=/usr/share/dict/american-english
out=${DEMO_DIR:-$build/demo}
mkdir -p "$out"
# The list is sorted; shuffled (with a fixed seed) the model must learn what words look like,
# not to copy the word before.
awk 'BEGIN { srand(1) } { printf "%.9f\t%s\n", rand(), $0 }' "$words" | LC_ALL=C sort |
  cut -f 2- >"$out/words.txt"
awk 'NR % 9 == 0' "$out/words.txt" >"$out/valid.txt"
awk 'NR % 9 != 0' "$out/words.txt" >"$out/train.txt"
echo "demo: $(wc -l <"$out/train.txt") words to learn from, $(wc -l <"$out/valid.txt") held out"

start=$(date +%s)
# A 2-layer LSTM over characters: 64 streams, windows of 32 steps, Adam.
"$weft" train --task lm --level char \
  --data "$out/train.txt" --valid "$out/valid.txt" \
  --cell lstm --layers 2 --hidden 192 --embed 32 --dropout 0 \
  --batch 64 --bptt 32 --epochs "${DEMO_EPOCHS:-4}" \
  --optim adam --lr 0.005 --clip 1 --decay 0.5 --decay-start 3 --seed 1 \
  --save "$out/words.safetensors" --log "$out/train.csv"
end=$(date +%s)

echo
echo "demo: the held-out words, scored by the best model:"
"$weft" --quiet eval --model "$out/words.safetensors" --data "$out/valid.txt" | tail -2

echo
echo "demo: words the model invents (temperature 0.8):"
"$weft" --quiet sample --model "$out/words.safetensors" --tokens 400 --temperature 0.8 --seed 7 |
  head -n 30 | paste -sd ' ' | fold -s -w 78
echo
echo "demo: words it makes from 'un', 'ph' and 'qu':"
for prime in un ph qu; do
  for seed in 1 2 3 4 5 6; do
    "$weft" --quiet sample --model "$out/words.safetensors" --prime "$prime" --tokens 20 \
      --temperature 0.7 --seed "$seed" | head -n 1
  done | paste -sd ' '
done

echo
"$weft" --quiet dot --model "$out/words.safetensors" --steps 4 -o "$out/demo.svg" \
  --title "the character LSTM of scripts/demo.sh, unrolled over 4 steps"
echo "demo: the model unrolled in time: $out/demo.svg"
echo "demo: trained in $((end - start)) s; progress in $out/train.csv"
