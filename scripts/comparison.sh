#!/usr/bin/env bash
# The comparison of docs/comparison.md: ten cells, six task settings, two seeds, every model sized to
# 15,000 parameters, one thread per run. Usage: scripts/comparison.sh WEFT_EXE OUT_DIR [DATA_DIR]
# (DATA_DIR, the folder of polyphonic_music/, or the WEFT_DATA_DIR environment variable).
# Resumable: rerunning skips the runs already in OUT_DIR.
set -euo pipefail
weft=${1:?usage: scripts/comparison.sh WEFT_EXE OUT_DIR [DATA_DIR]}
out=${2:?usage: scripts/comparison.sh WEFT_EXE OUT_DIR [DATA_DIR]}
data=${3:-${WEFT_DATA_DIR:?give the data folder (polyphonic_music/) as DATA_DIR or WEFT_DATA_DIR}}
cells=rnn,gru,lstm,lstm-f,lstm-i,lstm-o,lstm-b,mut1,mut2,mut3
common=(--threads 1 compare --cell "$cells" --budget-params 15000 --seeds 2 --eval-points 8
        --data-dir "$data")
mkdir -p "$out"
run() {  # name, then the task's flags
  local name=$1; shift
  echo "== $name: $weft ${common[*]} $* --output $out/$name"
  "$weft" "${common[@]}" "$@" --output "$out/$name" | tee "$out/$name.md"
}
run arithmetic --task arithmetic --train-steps 600
run xml        --task xml --train-steps 300
run jsb        --task music --music-set jsb --train-steps 300
run adding20   --task adding --length 20 --train-steps 1500
run adding50   --task adding --length 50 --train-steps 1500
run adding100  --task adding --length 100 --train-steps 250
