#!/usr/bin/env bash
# Install the Debian packages weft needs that are not installed yet.
# Idempotent: when everything is there it installs nothing and needs no network.
# Run as root (or with sudo available).
# Usage: scripts/install-deps.sh [--with-torch] [--with-wordvec] [--with-mpi]
#   --with-torch    python3-torch, for golden files and the PyTorch side-by-side benchmarks
#   --with-wordvec  python3-gensim and fasttext, for bench/word2vec_side_by_side.py
#   --with-mpi      Open MPI, for distributed training (meson -Dmpi=auto finds it) and its tests
set -euo pipefail

packages=(
  gcc pkg-config meson ninja-build         # build
  g++                                      # the C++ check of the installed headers (tests)
  libblis-dev libblis-openmp-dev libblis4-openmp   # GEMM (the OpenMP-threaded BLIS)
  libcjson-dev                             # checkpoint headers (safetensors JSON)
  libcmocka-dev                            # tests
  graphviz libgraphviz-dev                 # drawing: the dot program and gvc/cgraph
  gnuplot-nox                              # charts (gradient flow, comparisons)
  wamerican                                # the word list the main job trains on
  clang libclang-rt-dev                    # libFuzzer + sanitizers (scripts/fuzz.sh)
  strace                                   # fault injection in the crash-safety test
)
for arg in "$@"; do
  case "$arg" in
    --with-torch) packages+=(python3-torch) ;;           # golden files and side-by-side benchmarks only
    --with-wordvec) packages+=(python3-gensim fasttext) ;;  # word-vector side-by-side benchmark only
    --with-mpi) packages+=(openmpi-bin libopenmpi-dev) ;;   # mpirun, mpi.h and libmpi
    *) echo "install-deps: unknown option '$arg' (--with-torch, --with-wordvec, --with-mpi)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages are installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo: install ${missing[*]} by hand" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
