#!/usr/bin/env bash
# Fuzzes the checkpoint loader and the JSON reader with libFuzzer for SECONDS each (default 60), starting
# from real and broken files (tests/fuzz/fuzz_seeds.cpp), under AddressSanitizer + UndefinedBehaviorSanitizer.
# Needs clang; skips with a message where it is not installed. Finding anything (a crash, a sanitizer report,
# an exception other than qkv::Error, a refused load that changed the model) fails, and the input that did it
# is left in build-fuzz/ as crash-*.
#   bash tests/run_fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
if ! command -v clang++ > /dev/null; then
  echo "run_fuzz: clang++ is not installed, so nothing was fuzzed (apt-get install clang)"
  exit 0
fi
build=build-fuzz
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQKV_FUZZ=ON \
  -DQKV_BUILD_TESTS=OFF -DQKV_BUILD_EXAMPLES=OFF -DQKV_X86_KERNELS=OFF > /dev/null
cmake --build "$build" -j2 --target fuzz_json fuzz_checkpoint fuzz_seeds

corpus=$build/corpus
rm -rf "$corpus"
mkdir -p "$corpus/checkpoint" "$corpus/json"
"$build/tests/fuzz/fuzz_seeds" "$corpus/checkpoint" "$corpus/json"

# The two fuzzers run side by side, one process each (the machines have 2 cores). The JSON tokens help both:
# a checkpoint's header is JSON. 2 GB of RSS at most each.
targets=(json checkpoint)
pids=()
for target in "${targets[@]}"; do
  echo "== fuzz_$target for $seconds s from $(ls "$corpus/$target" | wc -l) seeds"
  (cd "$build" && "./tests/fuzz/fuzz_$target" -max_total_time="$seconds" -dict=../tests/fuzz/json.dict \
    -rss_limit_mb=2048 -print_final_stats=1 "corpus/$target" > "fuzz_$target.log" 2>&1) &
  pids+=($!)
done
failed=0
for i in "${!targets[@]}"; do
  target=${targets[i]}
  if ! wait "${pids[i]}"; then
    tail -n 60 "$build/fuzz_$target.log"
    echo "run_fuzz: fuzz_$target found a problem (input saved in $build/crash-*)"
    failed=1
    continue
  fi
  awk -v t="fuzz_$target" '/stat::number_of_executed_units/ { runs = $2 } /^#[0-9]+.*cov:/ { cov = $0 }
    END { print t ": " runs " executions, no finding; last status: " cov }' "$build/fuzz_$target.log"
done
exit "$failed"
