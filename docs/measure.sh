#!/usr/bin/env bash
# Records the benchmarks whose tables the course shows (docs/04, 11, 12, 13) into docs/measurements/*.csv,
# with the date and the machine in comment lines; `bash docs/regenerate.sh` then renders the tables from
# them. Run by hand on a quiet machine (it takes minutes; CI never runs it): timings on shared machines
# are noise, which is why they are recorded measurements and not regenerated output.
#   bash docs/measure.sh               QKV_BUILD_DIR=build-c bash docs/measure.sh
#   bash docs/measure.sh chargpt generate      only these sections (matmul, train, attention, generate,
#                                              chargpt, end_to_end); the others' files stay as they are
# On a CPU without AVX-512 it records into docs/measurements/avx2_cpu/ instead (the AVX2-only tables of
# docs/04, 11 and 12), leaving the AVX-512 record alone.
# bench_train and the PyTorch twin (examples/torch_train_step.py, needs Debian's python3-torch) run in
# three interleaved rounds at 1 and at all threads; the tables show the best round of each row. A second
# PyTorch (e.g. 2.x from PyPI, in a venv) joins the rounds as impl torch2 when QKV_TORCH2_PYTHON names its
# python:  QKV_TORCH2_PYTHON=/tmp/torch2/bin/python bash docs/measure.sh
# Needs OpenBLAS (apt-get install libopenblas-dev): bench_matmul's baseline, and the BLAS under Debian's
# PyTorch; without it the script stops and says so rather than record ratios against the reference BLAS.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${QKV_BUILD_DIR:-build}
cd "$ROOT"
OUT=docs/measurements
# The course's tables are an AVX-512 machine's. On a CPU without AVX-512 the same runs go to a folder of
# their own, which docs/04, 11 and 12 show as the AVX2-only CPU's tables: the AVX-512 record stays.
avx512=1
grep -qw avx512f /proc/cpuinfo 2>/dev/null || avx512=0
if [[ $avx512 == 0 ]]; then
  OUT=docs/measurements/avx2_cpu
  echo "measure: this CPU has no AVX-512: recording into $OUT/ (the AVX2-only tables of docs/04, 11 and 12)" >&2
fi
mkdir -p "$OUT"

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target bench_matmul bench_train bench_attention bench_generate train_reverse train_sort train_chargpt >/dev/null

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
cores=$(nproc)
compiler=$(awk -F= '/^CMAKE_CXX_COMPILER:/ { print $2 }' "$BUILD/CMakeCache.txt")
machine="$cores-core $cpu, $(uname -sm), $("$compiler" --version | head -1)"
# Which BLAS a python's PyTorch runs its products on, after one product: Debian's python3-torch calls
# libblas.so.3, which is whatever Debian's alternatives point it at (OpenBLAS with libopenblas0 installed,
# else the reference Fortran BLAS); PyTorch from PyPI carries its own (MKL) inside libtorch_cpu.
blas_of() {  # blas_of PYTHON: OpenBLAS, BLIS, MKL, reference (libblas3's) or bundled, by the libblas.so.3 loaded
  "$1" -c 'import os, torch
torch.ones(8, 8) @ torch.ones(8, 8)
blas = [p for p in (line.split()[-1] for line in open("/proc/self/maps")) if os.path.basename(p).startswith("libblas.so.3")]
folder = os.path.basename(os.path.dirname(blas[0])).lower() if blas else ""
print("bundled" if not blas else "OpenBLAS" if "openblas" in folder else "BLIS" if "blis" in folder else
      "MKL" if "mkl" in folder else "reference" if folder == "blas" else folder)' 2>/dev/null
}
torch_version=$(/usr/bin/python3 -c 'import torch; print(torch.__version__)' 2>/dev/null || echo "")
torch2_python=${QKV_TORCH2_PYTHON:-}
torch2_version=$([[ -n "$torch2_python" ]] && "$torch2_python" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo "")
# A PyTorch on the reference BLAS is no baseline: its gpt step took 3.3 s instead of 0.28 s with OpenBLAS
# (AMD EPYC, 2026-12-03), and every ratio against it would be a false claim. Refused; the BLAS is named in
# the CSVs otherwise.
if [[ -n "$torch_version" ]]; then
  torch_blas=$(blas_of /usr/bin/python3)
  if [[ "$torch_blas" == reference ]]; then
    echo "measure: Debian's PyTorch runs on the reference BLAS here (libblas3), ~10x slower than on OpenBLAS:" \
      "apt-get install libopenblas-dev (it also gives bench_matmul its OpenBLAS; or point the libblas.so.3" \
      "alternative at OpenBLAS), then run this again" >&2
    exit 1
  fi
  torch_version="$torch_version on $torch_blas"
fi
[[ -z "$torch2_version" ]] || torch2_version="$torch2_version on $(blas_of "$torch2_python")"
today=$(date +%Y-%m-%d)
all=$cores
sections=${*:-matmul train attention generate chargpt end_to_end}

# A CSV file: the two comment lines, then the rows a command printed (its header line kept once).
write_csv() {  # write_csv FILE WHAT_WAS_RUN < rows
  {
    echo "# recorded: $today by docs/measure.sh ($2)"
    echo "# machine: $machine"
    cat
  } >"$OUT/$1.tmp"
  mv "$OUT/$1.tmp" "$OUT/$1"
  echo "measure: wrote $OUT/$1" >&2
}

keep_header() {  # keep_header ROUND < csv: the rows, with the header line only in round 1
  if [[ $1 == 1 ]]; then cat; else tail -n +2; fi
}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# qkv's best path beside OpenBLAS's own kernel choice (the machines may set OPENBLAS_CORETYPE=Haswell and
# OPENBLAS_L2_SIZE, which force its AVX2 kernel: unset here, for this command alone); then qkv's AVX2 path
# beside OpenBLAS forced onto AVX2, as an AVX2-only CPU would run them.
measure_matmul() {
  echo "measure: bench_matmul" >&2
  kernels=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$BUILD/examples/bench_matmul" |
    awk -F': ' '/^qkv kernels/ { split($2, q, ";"); k = "qkv on " q[1] } /^OpenBLAS kernels/ { k = k ", OpenBLAS on " $2 }
      END { print k }')
  if [[ "$kernels" != *OpenBLAS* ]]; then
    echo "measure: bench_matmul was built without OpenBLAS, so its ratios would be 0:" \
      "apt-get install libopenblas-dev, then run this again (it configures $BUILD anew)" >&2
    exit 1
  fi
  # Three runs of each, interleaved; the tables show each cell's best (one run moves 2-thread cells by 10%
  # on a shared machine).
  local own=$scratch/matmul_own.csv forced=$scratch/matmul_avx2.csv
  : >"$own"
  : >"$forced"
  for round in 1 2 3; do
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$BUILD/examples/bench_matmul" --csv | keep_header "$round" >>"$own"
    [[ $avx512 == 1 ]] || continue  # the run above is already both on AVX2
    QKV_ISA=avx2 OPENBLAS_CORETYPE=Haswell "$BUILD/examples/bench_matmul" --csv | keep_header "$round" >>"$forced"
  done
  write_csv bench_matmul.csv "three runs of bench_matmul --csv with OpenBLAS on its own kernel choice; $kernels" <"$own"
  [[ $avx512 == 1 ]] || return 0
  write_csv bench_matmul_avx2.csv "three runs of QKV_ISA=avx2 OPENBLAS_CORETYPE=Haswell bench_matmul --csv: both on AVX2" <"$forced"
}

# bench_train and its twins, three interleaved rounds at 1 and all threads.
measure_train() {
  rounds=$scratch/rounds.csv
  also_avx2=""
  [[ $avx512 == 0 ]] || also_avx2=" (also under QKV_ISA=avx2: qkv_avx2)"
  echo "impl,config,threads,ms_per_step" >"$rounds"
  [[ -n "$torch_version" ]] || echo "measure: PyTorch not found (apt-get install python3-torch): qkv rows only" >&2
  for round in 1 2 3; do
    for threads in 1 "$all"; do
      echo "measure: round $round, $threads thread(s)" >&2
      "$BUILD/examples/bench_train" --csv --threads "$threads" >>"$rounds"
      if [[ $avx512 == 1 ]]; then
        QKV_ISA=avx2 "$BUILD/examples/bench_train" --csv --threads "$threads" | sed 's/^qkv,/qkv_avx2,/' >>"$rounds"
      fi
      if [[ -n "$torch_version" ]]; then
        /usr/bin/python3 examples/torch_train_step.py --csv --threads "$threads" >>"$rounds"
      fi
      if [[ -n "$torch2_version" ]]; then
        "$torch2_python" examples/torch_train_step.py --csv --threads "$threads" 2>/dev/null | sed 's/^torch,/torch2,/' >>"$rounds"
      fi
    done
  done
  write_csv train_step.csv "three interleaved rounds of bench_train --csv$also_avx2 and examples/torch_train_step.py --csv${torch_version:+ with PyTorch $torch_version}${torch2_version:+ and, as torch2, PyTorch $torch2_version}" <"$rounds"
}

# Flash attention (docs/13): qkv's kernels at all threads, PyTorch at 1 and all (its best is shown).
measure_attention() {
  echo "measure: bench_attention" >&2
  {
    "$BUILD/examples/bench_attention" --csv --threads "$all"
    if [[ -n "$torch_version" ]]; then
      for threads in 1 "$all"; do
        /usr/bin/python3 examples/bench_attention_torch.py --csv --threads "$threads" | tail -n +2
      done
    fi
  } | write_csv attention.csv "bench_attention --csv and examples/bench_attention_torch.py --csv at 1 and $all threads"
}

# Generation (docs/12): tokens per second with and without the key/value cache, three interleaved runs.
measure_generate() {
  echo "measure: bench_generate" >&2
  "$BUILD/examples/bench_generate" --csv --runs 3 |
    write_csv generate.csv "bench_generate --csv --runs 3 (best of three interleaved runs each way)"
}

# The character-level GPT (docs/12) against its PyTorch twin (../shared/reference/torch_chargpt.py): the
# default recipe on tinyshakespeare, 2,000 steps, seconds of training (evaluation left out by both) and the
# final validation loss. Seed 0 at 1 and all threads for each, then seeds 1 and 2 at the thread count that
# was faster for seed 0. Only where ../shared (the text and the twin) sits beside the repository.
measure_chargpt() {
  shared=$ROOT/../shared
  if [[ -f "$shared/data/tinyshakespeare.txt" && -f "$shared/reference/torch_chargpt.py" ]]; then
    echo "measure: train_chargpt and its twin (15 to 30 minutes)" >&2
    text=$shared/data/tinyshakespeare.txt
    twin=$shared/reference/torch_chargpt.py
    chargpt_row() {  # chargpt_row IMPL THREADS SEED: one CSV row impl,threads,seed,train_seconds,val_loss
      local impl=$1 threads=$2 seed=$3
      case $impl in
        qkv) (cd "$scratch" && "$ROOT/$BUILD/examples/train_chargpt" --data "$text" --threads "$threads" \
                --seed "$seed" --out "$scratch/run" --overwrite) |
               awk -v t="$threads" -v s="$seed" '/^step [0-9]+: train/ { sec = $7; sub(/^\(/, "", sec) }
                 /^validation loss: / { printf "qkv,%d,%d,%.1f,%.4f\n", t, s, sec, $3 }' ;;
        torch) /usr/bin/python3 "$twin" --data "$text" --csv --threads "$threads" --seed "$seed" |
               awk -F, -v t="$threads" -v s="$seed" '{ sec = $3; val = $5 }
                 END { printf "torch,%d,%d,%.1f,%.4f\n", t, s, sec, val }' ;;
        torch2) "$torch2_python" "$twin" --data "$text" --csv --threads "$threads" --seed "$seed" 2>/dev/null |
               awk -F, -v t="$threads" -v s="$seed" '{ sec = $3; val = $5 }
                 END { printf "torch2,%d,%d,%.1f,%.4f\n", t, s, sec, val }' ;;
      esac
    }
    impls=(qkv)
    [[ -n "$torch_version" ]] && impls+=(torch)
    [[ -n "$torch2_version" ]] && impls+=(torch2)
    {
      echo "impl,threads,seed,train_seconds,val_loss"
      for threads in 1 "$all"; do
        for impl in "${impls[@]}"; do chargpt_row "$impl" "$threads" 0; done
      done >"$scratch/seed0.csv"
      cat "$scratch/seed0.csv"
      for impl in "${impls[@]}"; do
        best=$(awk -F, -v i="$impl" '$1 == i && (b == "" || $4 < s) { b = $2; s = $4 } END { print b }' \
          "$scratch/seed0.csv")
        for seed in 1 2; do chargpt_row "$impl" "$best" "$seed"; done
      done
    } | write_csv chargpt.csv "train_chargpt --data tinyshakespeare.txt and ../shared/reference/torch_chargpt.py${torch_version:+ with PyTorch $torch_version}${torch2_version:+ and, as torch2, PyTorch $torch2_version}: seed 0 at 1 and $all threads, seeds 1 and 2 at the faster count"
  else
    echo "measure: no ../shared/data/tinyshakespeare.txt or reference twin: chargpt.csv left as it is" >&2
  fi
}

# End to end: the wall time of the whole program with its default flags, in a scratch folder.
measure_end_to_end() {
  {
    echo "program,threads,seconds"
    for program in train_reverse train_sort; do
      start=$(date +%s.%N)
      (cd "$scratch" && "$ROOT/$BUILD/examples/$program" --threads "$all" >/dev/null)
      awk -v p=$program -v t="$all" -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%s,%d,%.0f\n", p, t, e - s }'
    done
  } | write_csv end_to_end.csv "wall time of each program with its default flags: training, evaluation and pictures"
}

for section in $sections; do
  declare -F "measure_$section" >/dev/null || { echo "measure: no section $section" >&2; exit 1; }
done
for section in $sections; do "measure_$section"; done
echo "measure: now run bash docs/regenerate.sh to redraw the tables" >&2
