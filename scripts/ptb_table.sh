#!/usr/bin/env bash
# The Penn Treebank table of the classic language models, row by row, with weft's own models
# (docs/results.md, "The Penn Treebank table"):
#
#   kn5         interpolated modified Kneser-Ney 5-gram                      weft ngram train
#   window      Bengio et al. (2003) fixed-window NNLM                       weft train --task window-lm
#   window+kn5  the two interpolated, the weight tuned on valid by EM        weft mix
#   lbl         Mnih & Hinton (2007) log-bilinear model                      weft train --task window-lm --arch lbl
#   rnn         Mikolov et al. (2010) recurrent NNLM: Elman RNN, sigmoid     weft train --cell rnn-sigmoid
#   rnn+kn5     the two interpolated
#
#   bash scripts/ptb_table.sh DATA_DIR [OUT_DIR]      DATA_DIR holds ptb.train.txt and ptb.valid.txt
#                                                     (Mikolov's PTB); OUT_DIR default build/ptb
#   PTB_ROWS="kn5 window window+kn5" bash scripts/ptb_table.sh ...     some rows only
#   WEFT=path/to/weft                                                  another binary
#   PTB_EXTRA="--epochs 1 --hidden 16 --embed 16"   flags added to every new training run
#                                                   (a quick check of the script itself)
#
# Every row is its own step and resumable: a training run interrupted (Ctrl-C, SIGTERM, a
# reboot) leaves OUT_DIR/ROW.safetensors.state, and running the script again continues it
# from there with --resume (the same batch, position, learning rate and random stream); a row
# that finished (OUT_DIR/ROW.done) is skipped. Each row's stdout goes to OUT_DIR/ROW.out, its
# progress to OUT_DIR/ROW.err and OUT_DIR/ROW.csv; the table is printed at the end.
#
# Time (docs/results.md): kn5 takes a minute; an epoch of the window row took about 6
# CPU-minutes at one thread on the 2-core machine of docs/results.md while it was shared, and
# the rows train up to 10, 10 and 20 epochs (fewer with early stopping): hours of CPU for the
# whole table, and the wall time is that divided by the share of a core the runs get.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -lt 1 ]]; then
  echo "usage: bash scripts/ptb_table.sh DATA_DIR [OUT_DIR] (DATA_DIR: ptb.train.txt, ptb.valid.txt)" >&2
  exit 2
fi
data=$1
out=${2:-build/ptb}
weft=${WEFT:-build/src/cli/weft}
rows=${PTB_ROWS:-kn5 window window+kn5 lbl rnn rnn+kn5}
threads=${PTB_THREADS:-1}
train=$data/ptb.train.txt
valid=$data/ptb.valid.txt

for f in "$train" "$valid"; do
  [[ -r $f ]] || { echo "ptb_table: cannot read $f (the PTB folder is the first argument)" >&2; exit 2; }
done
if [[ -z ${WEFT:-} ]]; then
  [[ -f build/build.ninja ]] || meson setup build >/dev/null
  ninja -C build >/dev/null
fi
[[ -x $weft ]] || { echo "ptb_table: no weft executable at $weft" >&2; exit 2; }
mkdir -p "$out"

# The settings of each neural row (docs/results.md gives the sweep behind them).
window_flags=(--task window-lm --arch nnlm --order 5 --embed 100 --hidden 200 --dropout 0.2
  --batch 256 --epochs 10 --optim adam --lr 0.001 --schedule plateau --decay 0.5
  --plateau-patience 0 --patience 2 --seed 1)
lbl_flags=(--task window-lm --arch lbl --order 5 --embed 100 --batch 256 --epochs 10
  --optim adam --lr 0.001 --schedule plateau --decay 0.5 --plateau-patience 0 --patience 2
  --seed 1)
rnn_flags=(--task lm --cell rnn-sigmoid --layers 1 --hidden 250 --embed 250 --dropout 0.25
  --batch 20 --bptt 20 --epochs 20 --optim sgd --lr 20 --clip 0.25 --init 0.1
  --schedule plateau --decay 0.5 --plateau-patience 0 --patience 3 --seed 1)

# train ROW FLAGS...: a new run, or the run saved in ROW.safetensors.state continued.
train_row() {
  local row=$1; shift
  local model=$out/$row.safetensors
  if [[ -f $out/$row.done ]]; then echo "$row: done ($(tail -1 "$out/$row.out"))"; return; fi
  local task=lm
  [[ " $* " == *" window-lm "* ]] && task=window-lm
  local args
  if [[ -f $model.state ]]; then
    echo "$row: continuing $model.state"
    args=(train --task "$task" --resume "$model" --data "$train" --valid "$valid")
  else
    echo "$row: training ($*)"
    # shellcheck disable=SC2206  # PTB_EXTRA is a list of flags
    args=(train "$@" ${PTB_EXTRA:-} --data "$train" --valid "$valid" --save "$model" --log "$out/$row.csv")
  fi
  local start=$SECONDS status=0
  nice -n 10 "$weft" --threads "$threads" "${args[@]}" >>"$out/$row.out" 2>>"$out/$row.err" ||
    status=$?
  echo "$row: $((SECONDS - start)) s of wall time this call, exit status $status"
  if [[ $status -ne 0 ]]; then
    echo "$row: not finished; run the script again to continue it" >&2
    exit "$status"
  fi
  touch "$out/$row.done"
}

# mix ROW MODEL: ROW+kn5, the weight tuned on valid.
mix_row() {
  local row=$1 model=$2
  [[ -f $out/$row.done && -f $out/kn5.done ]] ||
    { echo "$row+kn5: needs the $row and kn5 rows first" >&2; return; }
  "$weft" --quiet mix --model "$out/kn5.arpa,$model" --data "$valid" >"$out/$row+kn5.out"
  touch "$out/$row+kn5.done"
  cat "$out/$row+kn5.out"
}

for row in $rows; do
  case $row in
    kn5)
      if [[ ! -f $out/kn5.done ]]; then
        "$weft" --threads "$threads" ngram train --order 5 --data "$train" --valid "$valid" \
          --save "$out/kn5.arpa" >"$out/kn5.out"
        touch "$out/kn5.done"
      fi
      echo "kn5: $(grep -i perplexity "$out/kn5.out" | tail -1)" ;;
    window) train_row window "${window_flags[@]}" ;;
    lbl) train_row lbl "${lbl_flags[@]}" ;;
    rnn) train_row rnn "${rnn_flags[@]}" ;;
    window+kn5) mix_row window "$out/window.safetensors" ;;
    rnn+kn5) mix_row rnn "$out/rnn.safetensors" ;;
    *) echo "ptb_table: unknown row '$row' (kn5 window window+kn5 lbl rnn rnn+kn5)" >&2; exit 2 ;;
  esac
done

# The table: each row's best validation perplexity (as `weft eval` measures it on all of
# ptb.valid.txt for the window models and the n-gram model; on 10 streams for the RNN).
echo
printf '%-12s %s\n' row "valid perplexity"
for row in $rows; do
  case $row in
    kn5) v=$(grep -io 'perplexity[^0-9]*[0-9.]*' "$out/kn5.out" 2>/dev/null | tail -1 | grep -o '[0-9.]*$') ;;
    *+kn5) v=$(grep -o 'mixture perplexity: [0-9.]*' "$out/$row.out" 2>/dev/null | grep -o '[0-9.]*$') ;;
    *) v=$(grep -o 'best valid perplexity: [0-9.]*' "$out/$row.out" 2>/dev/null | tail -1 |
           grep -o '[0-9.]*$') ;;
  esac
  printf '%-12s %s\n' "$row" "${v:-(not finished)}"
done
