#!/usr/bin/env bash
# Records the benchmarks whose tables the course shows (docs/04 and docs/11) into docs/measurements/*.csv,
# with the date and the machine in comment lines; `bash docs/regenerate.sh` then renders the tables from
# them. Run by hand on a quiet machine (it takes minutes; CI never runs it): timings on shared machines
# are noise, which is why they are recorded measurements and not regenerated output.
#   bash docs/measure.sh               QKV_BUILD_DIR=build-c bash docs/measure.sh
# bench_train and the PyTorch twin (examples/torch_train_step.py, needs Debian's python3-torch) run in
# three interleaved rounds at 1 and at all threads; the tables show the best round of each row. A second
# PyTorch (e.g. 2.x from PyPI, in a venv) joins the rounds as impl torch2 when QKV_TORCH2_PYTHON names its
# python:  QKV_TORCH2_PYTHON=/tmp/torch2/bin/python bash docs/measure.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${QKV_BUILD_DIR:-build}
cd "$ROOT"
OUT=docs/measurements
mkdir -p "$OUT"

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target bench_matmul bench_train bench_attention bench_generate train_reverse train_sort >/dev/null

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)
cores=$(nproc)
compiler=$(awk -F= '/^CMAKE_CXX_COMPILER:/ { print $2 }' "$BUILD/CMakeCache.txt")
machine="$cores-core $cpu, $(uname -sm), $("$compiler" --version | head -1)"
torch_version=$(/usr/bin/python3 -c 'import torch; print(torch.__version__)' 2>/dev/null || echo "")
torch2_python=${QKV_TORCH2_PYTHON:-}
torch2_version=$([[ -n "$torch2_python" ]] && "$torch2_python" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo "")
today=$(date +%Y-%m-%d)
all=$cores

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

# qkv's best path beside OpenBLAS's own kernel choice (the machines may set OPENBLAS_CORETYPE=Haswell and
# OPENBLAS_L2_SIZE, which force its AVX2 kernel: unset here, for this command alone); then qkv's AVX2 path
# beside OpenBLAS forced onto AVX2, as an AVX2-only CPU would run them.
echo "measure: bench_matmul" >&2
kernels=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$BUILD/examples/bench_matmul" |
  awk -F': ' '/^qkv kernels/ { split($2, q, ";"); k = "qkv on " q[1] } /^OpenBLAS kernels/ { k = k ", OpenBLAS on " $2 }
    END { print k }')
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$BUILD/examples/bench_matmul" --csv |
  write_csv bench_matmul.csv "one run of bench_matmul --csv with OpenBLAS on its own kernel choice; $kernels"
QKV_ISA=avx2 OPENBLAS_CORETYPE=Haswell "$BUILD/examples/bench_matmul" --csv |
  write_csv bench_matmul_avx2.csv "one run of QKV_ISA=avx2 OPENBLAS_CORETYPE=Haswell bench_matmul --csv: both on AVX2"

rounds=$(mktemp)
trap 'rm -f "$rounds"' EXIT
echo "impl,config,threads,ms_per_step" >"$rounds"
[[ -n "$torch_version" ]] || echo "measure: PyTorch not found (apt-get install python3-torch): qkv rows only" >&2
for round in 1 2 3; do
  for threads in 1 "$all"; do
    echo "measure: round $round, $threads thread(s)" >&2
    "$BUILD/examples/bench_train" --csv --threads "$threads" >>"$rounds"
    QKV_ISA=avx2 "$BUILD/examples/bench_train" --csv --threads "$threads" | sed 's/^qkv,/qkv_avx2,/' >>"$rounds"
    if [[ -n "$torch_version" ]]; then
      /usr/bin/python3 examples/torch_train_step.py --csv --threads "$threads" >>"$rounds"
    fi
    if [[ -n "$torch2_version" ]]; then
      "$torch2_python" examples/torch_train_step.py --csv --threads "$threads" 2>/dev/null | sed 's/^torch,/torch2,/' >>"$rounds"
    fi
  done
done
write_csv train_step.csv "three interleaved rounds of bench_train --csv (also under QKV_ISA=avx2: qkv_avx2) and examples/torch_train_step.py --csv${torch_version:+ with PyTorch $torch_version}${torch2_version:+ and, as torch2, PyTorch $torch2_version}" <"$rounds"

# Flash attention (docs/13): qkv's kernels at all threads, PyTorch at 1 and all (its best is shown).
echo "measure: bench_attention" >&2
{
  "$BUILD/examples/bench_attention" --csv --threads "$all"
  if [[ -n "$torch_version" ]]; then
    for threads in 1 "$all"; do
      /usr/bin/python3 examples/bench_attention_torch.py --csv --threads "$threads" | tail -n +2
    done
  fi
} | write_csv attention.csv "bench_attention --csv and examples/bench_attention_torch.py --csv at 1 and $all threads"

# Generation (docs/12): tokens per second with and without the key/value cache, three interleaved runs.
echo "measure: bench_generate" >&2
"$BUILD/examples/bench_generate" --csv --runs 3 |
  write_csv generate.csv "bench_generate --csv --runs 3 (best of three interleaved runs each way)"

# End to end: the wall time of the whole program with its default flags, in a scratch folder.
scratch=$(mktemp -d)
{
  echo "program,threads,seconds"
  for program in train_reverse train_sort; do
    start=$(date +%s.%N)
    (cd "$scratch" && "$ROOT/$BUILD/examples/$program" --threads "$all" >/dev/null)
    awk -v p=$program -v t="$all" -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%s,%d,%.0f\n", p, t, e - s }'
  done
} | write_csv end_to_end.csv "wall time of each program with its default flags: training, evaluation and pictures"
rm -rf "$scratch"
echo "measure: now run bash docs/regenerate.sh to redraw the tables" >&2
