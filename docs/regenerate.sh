#!/usr/bin/env bash
# Rewrites every generated part of the course (docs/*.md, docs/derivations/*.md) and of README.md from the
# code, so that no figure, sample output or quoted number can drift from what the programs do:
#   <!-- regenerate: COMMAND -->      the fenced block on the next line becomes COMMAND's output
#   <!-- figure: PATH from COMMAND --> the picture on the next line becomes the file PATH that COMMAND writes
#   <!-- value: NAME -->...<!-- /value -->  an inline number, defined in define_values below
#   <!-- table: NAME -->...<!-- /table -->  a table rendered from a CSV file under docs/measurements/
# Commands run as shown in the docs (`./build/examples/...`), in a scratch folder whose `build` points at
# ${QKV_BUILD_DIR:-build}, so a reader's runs/ is never touched. Timings (steps/s, ETA) are cut from the
# output; QKV_NUM_THREADS=2 fixes the thread count that the programs print (results do not depend on it).
# Benchmarks are not run here (docs/measure.sh records them). Run it twice: the second run changes nothing.
#   bash docs/regenerate.sh            QKV_BUILD_DIR=build-c bash docs/regenerate.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${QKV_BUILD_DIR:-build}
cd "$ROOT"
case "$BUILD" in /*) BUILD_ABS=$BUILD ;; *) BUILD_ABS=$ROOT/$BUILD ;; esac

echo "regenerate: building in $BUILD (Release)" >&2
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target tour fit_mlp positional_encoding online_softmax sampling_step train_reverse train_sort train_chargpt explore_attention bench_train qkv_tests >/dev/null

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/run" "$WORK/out" "$WORK/tables"
ln -s "$BUILD_ABS" "$WORK/run/build"
: >"$WORK/index"
: >"$WORK/values"
export QKV_NUM_THREADS=2
PAGES=(README.md docs/*.md docs/derivations/*.md)

# The output of COMMAND, run once in the scratch folder, without its timings. Prints the file holding it.
output_of() {
  local command=$1 key
  key=$(printf '%s' "$command" | md5sum | cut -c1-16)
  if [[ ! -f "$WORK/out/$key" ]]; then
    echo "regenerate: $command" >&2
    if ! (cd "$WORK/run" && bash -c "$command") >"$WORK/out/$key.raw"; then
      echo "regenerate: '$command' failed" >&2
      exit 1
    fi
    sed -E 's/  [0-9.]+ steps\/s  ETA [0-9]+:[0-9]+$//; s/[[:space:]]+$//' "$WORK/out/$key.raw" >"$WORK/out/$key"
    printf '%s\t%s\n' "$command" "$WORK/out/$key" >>"$WORK/index"
  fi
  echo "$WORK/out/$key"
}

# value NAME TEXT: what <!-- value: NAME --> shows.
value() {
  [[ -n "$2" ]] || { echo "regenerate: value $1 came out empty" >&2; exit 1; }
  printf '%s\t%s\n' "$1" "$2" >>"$WORK/values"
}

# What an awk program prints from a command's output: pick COMMAND 'awk program'.
pick() { awk "$2" "$(output_of "$1")"; }

# 1. Every command the pages show as generated, in page order.
for page in "${PAGES[@]}"; do
  sed -n -E 's/^<!-- regenerate: (.*) -->$/\1/p; s/^<!-- figure: [^ ]+ from (.*) -->$/\1/p' "$page"
done | while IFS= read -r command; do output_of "$command" >/dev/null; done

# 2. Figures: copy what the command wrote over the picture the next line shows.
for page in "${PAGES[@]}"; do
  awk '/^<!-- figure: / { m = $0; getline; print m "\t" $0 }' "$page" | while IFS=$'\t' read -r marker image; do
    made=$(sed -E 's/^<!-- figure: ([^ ]+) from .*/\1/' <<<"$marker")
    target=$(sed -E 's/.*\]\(([^)]+)\).*/\1/' <<<"$image")
    cp "$WORK/run/$made" "$(dirname "$page")/$target"
  done
done

# 3. Numbers the prose quotes from a run.
commas() { awk '{ n = $0; s = ""; while (length(n) > 3) { s = "," substr(n, length(n) - 2) s; n = substr(n, 1, length(n) - 3) }; print n s }'; }
fit=./build/examples/fit_mlp
value fit_mlp.first_loss "$(pick $fit '$1 == "step" && $2 == 0 { printf "%.3f", $4 }')"
value fit_mlp.last_loss "$(pick $fit '$1 == "step" { last = $4 } END { printf "%.4f", last }')"
reverse=./build/examples/train_reverse
value reverse.parameters "$(pick $reverse '/^reverse: / { print $2 }' | commas)"
value reverse.loss_200 "$(pick $reverse '$2 ~ /^200\// { printf "%.1f", $4 }')"
value reverse.acc_600 "$(pick $reverse '$2 ~ /^600\// { print $6 }')"
value reverse.final_loss "$(pick $reverse '$1 == "step" { last = $4 } END { print last }')"
value reverse.accuracy "$(pick $reverse '/^exact-match accuracy/ { print $3 }')"
value reverse.first_source_first "$(pick $reverse '/ ->  / && !done { print $1; done = 1 }')"
value reverse.first_source_last "$(pick $reverse '/ ->  / && !done { for (i = 1; $(i + 1) != "->"; ++i); print $i; done = 1 }')"
value sort.accuracy "$(pick ./build/examples/train_sort '/^exact-match accuracy/ { print $3 }')"
alibi='./build/tests/qkv_tests "docs/extending: a small ALiBi model*" -s'
value alibi.first "$(pick "$alibi" '/loss before/ { printf "%.2f", $3; exit }')"
value alibi.trained "$(pick "$alibi" '/loss before/ { printf "%.2f", $5; exit }')"
value alibi.longer "$(pick "$alibi" '/loss on T = 36/ { printf "%.2f", $6; exit }')"

# 4. Tables (and the numbers the prose takes from them) from the measurements docs/measure.sh records.
measured=docs/measurements
caption() {  # the "# recorded:" and "# machine:" lines of a CSV file, as one sentence
  awk -v file="$1" '/^# recorded: / { r = substr($0, 13) } /^# machine: / { m = substr($0, 12) }
    END { print "Recorded " r ". Machine: " m ". From [" file "](measurements/" file "), written by `bash docs/measure.sh`." }' "$measured/$1"
}
matmul_table() {  # matmul_table FILE: GFLOPS per n; % peak = qkv 1T / the measured 1-thread FMA peak
  caption "$1"
  echo
  awk -F, '/^#/ || $1 == "impl" { next }
    { k = $1 "," $2 "," $3; if (!(k in g) || $4 > g[k]) g[k] = $4; if ($2 > T) T = $2
      if ($1 != "peak" && !($3 in seen)) { seen[$3] = 1; ns[++n] = $3 } }
    END {
      printf "| n | naive | qkv 1T | OpenBLAS 1T | ratio 1T | %% of peak 1T | qkv %dT | OpenBLAS %dT | ratio %dT | qkv %dT / 1T |\n", T, T, T, T
      print "|---|---|---|---|---|---|---|---|---|---|"
      p1 = g["peak,1,0"]
      for (i = 1; i <= n; ++i) {
        m = ns[i]; q1 = g["qkv,1," m]; o1 = g["openblas,1," m]; qt = g["qkv," T "," m]; ot = g["openblas," T "," m]
        printf "| %d | %s | %.1f | %.1f | %.2f | %s | %.1f | %.1f | %.2f | %.2f |\n", m,
          ("naive,1," m) in g ? sprintf("%.1f", g["naive,1," m]) : "", q1, o1, o1 ? q1 / o1 : 0,
          p1 ? sprintf("%.0f%%", 100 * q1 / p1) : "", qt, ot, ot ? qt / ot : 0, qt / q1
      }
      if (p1) printf "| peak | | %.1f | | | | %.1f | | | |\n", p1, g["peak," T ",0"]
    }' "$measured/$1"
}
matmul_table bench_matmul.csv >"$WORK/tables/matmul.md"
matmul_table bench_matmul_avx2.csv >"$WORK/tables/matmul_avx2.md"
matmul_value() {  # matmul_value FILE IMPL N: the best GFLOPS of IMPL at 1 thread and size N (peak: N = 0)
  awk -F, -v i="$2" -v n="$3" '$1 == i && $2 == 1 && $3 == n && $4 + 0 > b { b = $4 + 0 } END { printf "%.0f", b }' "$measured/$1"
}
matmul_percent() {  # matmul_percent FILE N: qkv at 1 thread as a percentage of the 1-thread FMA peak
  awk -v q="$(matmul_value "$1" qkv "$2")" -v p="$(matmul_value "$1" peak 0)" 'BEGIN { printf "%.0f%%", 100 * q / p }'
}
value matmul.peak "$(matmul_value bench_matmul.csv peak 0)"
value matmul.percent512 "$(matmul_percent bench_matmul.csv 512)"
value matmul.percent64 "$(matmul_percent bench_matmul.csv 64)"
value matmul_avx2.peak "$(matmul_value bench_matmul_avx2.csv peak 0)"
value matmul_avx2.percent512 "$(matmul_percent bench_matmul_avx2.csv 512)"
train_csv=train_step.csv  # the record train_best reads
train_best() {  # train_best IMPL CONFIG [THREADS]: the fastest recorded step, in ms
  awk -F, -v i="$1" -v c="$2" -v t="${3:-}" '$1 == i && $2 == c && (t == "" || $3 == t) && (best == "" || $4 < best) { best = $4 }
    END { print best }' "$measured/$train_csv"
}
train_table() {  # train_table FILE: the training step table; the qkv AVX2 columns where FILE has them
  train_csv=$1
  local avx2=0 head="| config | PyTorch 1T | PyTorch 2T | PyTorch 2 best | qkv 1T | qkv 2T |" rule="|---|---|---|---|---|---|"
  [[ -n "$(train_best qkv_avx2 gpt)" ]] && avx2=1 head="$head qkv AVX2 1T | qkv AVX2 2T |" rule="$rule---|---|"
  caption "$train_csv"
  echo
  echo "$head PyTorch best / qkv best | PyTorch 2 best / qkv best |"
  echo "$rule---|---|"
  for row in "reverse|reverse (B=64, D=64, 2+2 blocks), qkv on ragged batches" \
    "reverse_padded|reverse, qkv padded as the PyTorch twin (\`reverse_padded\`)" \
    "gpt|gpt (B=32, T=64, D=128, 4 blocks)"; do
    config=${row%%|*} torch_config=${row%%|*}
    [[ $config == reverse_padded ]] && torch_config=reverse  # the reference always pads
    awk -v label="${row#*|}" -v t1="$(train_best torch $torch_config 1)" -v t2="$(train_best torch $torch_config 2)" \
      -v q1="$(train_best qkv "$config" 1)" -v q2="$(train_best qkv "$config" 2)" -v avx2=$avx2 \
      -v a1="$(train_best qkv_avx2 "$config" 1)" -v a2="$(train_best qkv_avx2 "$config" 2)" \
      -v t="$(train_best torch $torch_config)" -v q="$(train_best qkv "$config")" \
      -v u="$(train_best torch2 $torch_config)" \
      'BEGIN { printf "| %s | %.1f | %.1f | %s | %.1f | %.1f |", label, t1, t2, u == "" ? "-" : sprintf("%.1f", u), q1, q2
        if (avx2) printf " %.1f | %.1f |", a1, a2
        printf " %.1fx | %s |\n", t / q, u == "" ? "-" : sprintf("%.1fx", u / q) }'
  done
  train_csv=train_step.csv
}
train_table train_step.csv >"$WORK/tables/train.md"
# The same benchmarks on a CPU without AVX-512, where docs/measure.sh records into avx2_cpu/ (docs/04, 11).
if [[ -f $measured/avx2_cpu/bench_matmul.csv ]]; then
  matmul_table avx2_cpu/bench_matmul.csv >"$WORK/tables/matmul_avx2_cpu.md"
  value matmul_avx2_cpu.peak "$(matmul_value avx2_cpu/bench_matmul.csv peak 0)"
  value matmul_avx2_cpu.percent512 "$(matmul_percent avx2_cpu/bench_matmul.csv 512)"
fi
if [[ -f $measured/avx2_cpu/train_step.csv ]]; then
  train_table avx2_cpu/train_step.csv >"$WORK/tables/train_avx2_cpu.md"
  train_csv=avx2_cpu/train_step.csv
  for config in reverse gpt; do
    value "perf_avx2_cpu.$config.ratio" "$(awk -v t="$(train_best torch $config)" -v q="$(train_best qkv $config)" 'BEGIN { printf "%.1fx", t / q }')"
  done
  train_csv=train_step.csv
fi
for config in reverse reverse_padded gpt; do
  torch_config=$config
  [[ $config == reverse_padded ]] && torch_config=reverse
  value "perf.$config.ratio" "$(awk -v t="$(train_best torch $torch_config)" -v q="$(train_best qkv $config)" 'BEGIN { printf "%.1fx", t / q }')"
  value "perf.$config.qkv_2T" "$(train_best qkv $config 2)"
done
for program in train_reverse train_sort; do
  value "measured.$program.seconds" "$(awk -F, -v p=$program '$1 == p { print $3 }' "$measured/end_to_end.csv")"
done

# Flash attention (docs/13): per T, the best (lowest) ms and peak MiB of each kernel over its thread
# counts; "-" where a kernel was not run (its score maps would not fit: bench_attention says where).
attention_best() {  # attention_best IMPL CAUSAL T COLUMN (5 = ms, 6 = peak_mib)
  awk -F, -v i="$1" -v c="$2" -v t="$3" -v f="$4" '$1 == i && $2 == c && $3 == t && (b == "" || $f + 0 < b) { b = $f + 0 }
    END { print b }' "$measured/attention.csv"
}
{
  caption attention.csv
  echo
  echo "| T = S | flash ms | materialised ms | PyTorch ms | flash causal ms | causal speed-up | flash MiB | materialised MiB | PyTorch MiB |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for T in $(awk -F, '!/^#/ && $1 != "impl" { print $3 }' "$measured/attention.csv" | sort -n | uniq); do
    awk -v T="$T" -v f="$(attention_best flash 0 "$T" 5)" -v m="$(attention_best materialised 0 "$T" 5)" \
      -v p="$(attention_best torch 0 "$T" 5)" -v fc="$(attention_best flash 1 "$T" 5)" \
      -v fm="$(attention_best flash 0 "$T" 6)" -v mm="$(attention_best materialised 0 "$T" 6)" \
      -v pm="$(attention_best torch 0 "$T" 6)" '
      function cell(x) { return x == "" ? "-" : sprintf(x < 10 ? "%.2f" : x < 100 ? "%.1f" : "%.0f", x) }
      BEGIN { printf "| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", T, cell(f), cell(m), cell(p), cell(fc),
        (f == "" || fc == "") ? "-" : sprintf("%.2fx", f / fc), cell(fm), cell(mm), cell(pm) }'
  done
} >"$WORK/tables/flash.md"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", a / b }'; }
value flash.torch_4096 "$(ratio "$(attention_best torch 0 4096 5)" "$(attention_best flash 0 4096 5)")"
value flash.materialised_1024 "$(ratio "$(attention_best materialised 0 1024 5)" "$(attention_best flash 0 1024 5)")"
value flash.causal_4096 "$(ratio "$(attention_best flash 0 4096 5)" "$(attention_best flash 1 4096 5)")"
value flash.mib_16384 "$(attention_best flash 0 16384 6 | awk '{ printf "%.0f", $1 }')"

# Generation (docs/12): tokens per second with and without the key/value cache, and how many times faster.
generate_rate() {  # generate_rate CACHE THREADS
  awk -F, -v c="$1" -v t="$2" '$1 == "qkv" && $2 == c && $3 == t { printf "%.0f", $4 }' "$measured/generate.csv"
}
for threads in 1 2; do
  value "generate.no_${threads}T" "$(generate_rate no $threads)"
  value "generate.yes_${threads}T" "$(generate_rate yes $threads)"
  value "generate.speedup_${threads}T" "$(ratio "$(generate_rate yes $threads)" "$(generate_rate no $threads)")"
done

# The character-level GPT against its PyTorch twins (docs/12): seconds of training per thread count, the
# faster of seed 0's two against qkv's, and the validation loss of each seed (at the faster thread count).
chargpt_table() {  # chargpt_table FILE
  caption "$1"
  echo
  echo "| 2,000 steps on tinyshakespeare, seed 0 | training s, 1 thread | training s, 2 threads | best / qkv's best | validation loss, seed 0 | seed 1 | seed 2 |"
  echo "|---|---|---|---|---|---|---|"
  awk -F, '/^#/ || $1 == "impl" { next }
    { k = $1 "," $2 "," $3; secs[k] = $4; if (!(($1 "," $3) in fast) || $4 < fast[$1 "," $3]) { fast[$1 "," $3] = $4; loss[$1 "," $3] = $5 }
      if ($3 == 0 && (!($1 in best) || $4 < best[$1])) best[$1] = $4 }
    END {
      name["qkv"] = "qkv"; name["torch"] = "PyTorch (Debian)"; name["torch2"] = "PyTorch 2 (PyPI)"
      split("qkv torch torch2", order, " ")
      for (i = 1; i <= 3; ++i) {
        m = order[i]; if (!(m in best)) continue
        printf "| %s | %s | %s | %.2fx | %s | %s | %s |\n", name[m], secs[m ",1,0"], secs[m ",2,0"], best[m] / best["qkv"],
          loss[m ",0"], loss[m ",1"], loss[m ",2"]
      }
    }' "$measured/$1"
}
chargpt_ratio() {  # chargpt_ratio FILE IMPL: its fastest seed-0 run over qkv's (the runs made side by side)
  awk -F, -v i="$2" '/^#/ || $1 == "impl" || $3 != 0 { next } $1 == i && (a == "" || $4 < a) { a = $4 }
    $1 == "qkv" && (q == "" || $4 < q) { q = $4 } END { printf "%.2fx", a / q }' "$measured/$1"
}
chargpt_table chargpt.csv >"$WORK/tables/chargpt.md"
value chargpt.vs_torch "$(chargpt_ratio chargpt.csv torch)"
value chargpt.vs_torch2 "$(chargpt_ratio chargpt.csv torch2)"
if [[ -f $measured/avx2_cpu/chargpt.csv ]]; then  # the same on a CPU without AVX-512
  chargpt_table avx2_cpu/chargpt.csv >"$WORK/tables/chargpt_avx2_cpu.md"
  value chargpt_avx2_cpu.vs_torch "$(chargpt_ratio avx2_cpu/chargpt.csv torch)"
  value chargpt_avx2_cpu.vs_torch2 "$(chargpt_ratio avx2_cpu/chargpt.csv torch2)"
  # docs/12 says qkv's losses are the same on both instruction sets: each seed's, in both records.
  # (Any thread count gives the same bits too, so a seed's runs at 1 and 2 threads are one line.)
  qkv_losses() { awk -F, '$1 == "qkv" { print "seed " $3 ": " $5 }' "$measured/$1" | sort -u; }
  [[ "$(qkv_losses chargpt.csv)" == "$(qkv_losses avx2_cpu/chargpt.csv)" ]] || {
    echo "regenerate: qkv's validation losses in measurements/chargpt.csv and avx2_cpu/chargpt.csv differ" \
      "(docs/12 says they are equal):" $(qkv_losses chargpt.csv) "/" $(qkv_losses avx2_cpu/chargpt.csv) >&2
    exit 1
  }
fi

# 5. Rewrite the pages in place (only when something changed, so file times stay put otherwise).
for page in "${PAGES[@]}"; do
  awk -v index_file="$WORK/index" -v values_file="$WORK/values" -v tables="$WORK/tables" -v page="$page" '
    function die(message) { print "regenerate: " page ":" FNR ": " message > "/dev/stderr"; failed = 1; exit 1 }
    function paste(file,    line) { while ((getline line < file) > 0) print line; close(file) }
    BEGIN {
      FS = "\t"
      while ((getline line < index_file) > 0) { split(line, f, "\t"); out[f[1]] = f[2] }
      while ((getline line < values_file) > 0) { split(line, f, "\t"); val[f[1]] = f[2] }
    }
    skip == "block" { if ($0 ~ /^```/) { print; skip = "" } ; next }
    skip == "table" { if ($0 == "<!-- /table -->") { print; skip = "" } ; next }
    /^<!-- regenerate: .* -->$/ {
      command = substr($0, 18, length($0) - 21)
      if (!(command in out)) die("no output for " command)
      print
      if ((getline fence) <= 0 || fence !~ /^```/) die("a regenerate marker must be followed by a fenced block")
      print fence
      paste(out[command])
      skip = "block"
      next
    }
    /^<!-- table: .* -->$/ {
      name = substr($0, 13, length($0) - 16)
      file = tables "/" name ".md"
      if ((getline probe < file) <= 0) die("no table named " name)
      close(file)
      print
      paste(file)
      skip = "table"
      next
    }
    {
      line = $0
      result = ""
      while ((at = index(line, "<!-- value: ")) > 0) {
        rest = substr(line, at + 12)
        name = substr(rest, 1, index(rest, " -->") - 1)
        close_at = index(rest, "<!-- /value -->")
        if (close_at == 0) die("<!-- value: " name " --> without <!-- /value --> on the same line")
        if (!(name in val)) die("no value named " name)
        result = result substr(line, 1, at - 1) "<!-- value: " name " -->" val[name] "<!-- /value -->"
        line = substr(rest, close_at + 15)
      }
      print result line
    }
    END { if (!failed && skip != "") die("a generated block is not closed") }
  ' "$page" >"$WORK/page.md"
  cmp -s "$WORK/page.md" "$page" || cp "$WORK/page.md" "$page"
done
echo "regenerate: done; git status --porcelain -- docs README.md shows what changed" >&2
