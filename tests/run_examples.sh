#!/usr/bin/env bash
# Runs every example the way README.md and docs/ show it (short runs where training is long), so no
# documented command can rot. Needs a Release build in build/ (bash tests/run.sh makes one).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build build -j2
run() { echo "\$ $*"; "$@"; }
out=$(mktemp -d)

run ./build/examples/tour
run ./build/examples/fit_mlp
run ./build/examples/positional_encoding --out "$out/pe"
run ./build/examples/train_reverse --help
run ./build/examples/train_reverse --steps 30 --out "$out/reverse"
run ./build/examples/train_reverse --steps 40 --resume --out "$out/reverse"
run ./build/examples/train_reverse --eval "$out/reverse/reverse.safetensors" --out "$out/reverse_eval"
run ./build/examples/train_sort --out "$out/sort" | tee "$out/sort.log"
tail -n 1 "$out/sort.log" | grep -q "^exact-match accuracy: 100.0%" || { echo "run_examples: train_sort is not at 100%"; exit 1; }
# Same seed and flags give the same checkpoint bytes with 1 or 2 threads (docs/09-training.md).
run ./build/examples/train_reverse --steps 60 --threads 1 --out "$out/det1"
run ./build/examples/train_reverse --steps 60 --threads 2 --out "$out/det2"
run cmp "$out/det1/reverse.safetensors" "$out/det2/reverse.safetensors"
# A few steps of the character GPT on the default text (README.md + docs/*.md), then text from it.
run ./build/examples/train_chargpt --steps 30 --eval-interval 15 --eval-iters 2 --out "$out/chargpt"
run ./build/examples/train_chargpt --sample "$out/chargpt/chargpt.safetensors" --prompt "The " --max-new-tokens 60
# The explorer on both checkpoints, the graph drawings, the summary and the profiler (docs/14-explorer.md).
run ./build/examples/explore_attention --checkpoint "$out/reverse/reverse.safetensors" --input "8 1 1 7 5 3 9" --out "$out/reverse.html"
run ./build/examples/explore_attention --checkpoint "$out/sort/sort.safetensors" --input "3 1 4 1 5 9 2 6" --out "$out/sort.html"
run ./build/examples/explore_attention --checkpoint "$out/chargpt/chargpt.safetensors" --input "The model" --out "$out/chargpt.html"
run ./build/examples/fit_mlp --hidden 2 --steps 200 --graph "$out/fit_mlp_graph.svg"
run ./build/examples/fit_mlp --graph-of attention_composed --graph "$out/attention_composed.svg"
run ./build/examples/fit_mlp --graph-of attention --graph "$out/attention_fused.svg"
run ./build/examples/train_reverse --summary
run ./build/examples/bench_train --config reverse --steps 5 --threads 1 --profile
run ./build/examples/bench_train --summary
run ./build/examples/train_chargpt --summary
run ./build/examples/bench_generate --summary
run ./build/examples/bench_matmul --csv
run ./build/examples/bench_train --steps 3 --csv
run ./build/examples/online_softmax
run ./build/examples/sampling_step
run ./build/examples/bench_generate --new-tokens 40 --runs 1
run ./build/examples/bench_generate --new-tokens 40 --runs 1 --csv
run ./build/examples/train_reverse --eval "$out/reverse/reverse.safetensors" --out "$out/reverse_eval" --beam 4
run ./build/examples/bench_attention --min-T 64 --max-T 128 --csv
run ./build/tests/qkv_tests "attention: the two common masking bugs*"
run ./build/tests/qkv_tests "multi-head attention: the course's shapes"
for f in "$out"/pe/positional_curves.svg "$out"/pe/positional_heatmap.svg "$out"/reverse/loss.svg \
         "$out"/reverse/cross_attention.svg "$out"/reverse_eval/cross_attention.svg "$out"/chargpt/loss.svg \
         "$out"/fit_mlp_graph.svg "$out"/attention_composed.svg "$out"/attention_fused.svg; do
  grep -q "</svg>" "$f" || { echo "run_examples: $f is not a whole SVG"; exit 1; }
done
rm -rf "$out"
echo "run_examples: every documented example ran"
