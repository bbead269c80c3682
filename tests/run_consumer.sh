#!/usr/bin/env bash
# Builds tests/consumer, a ten-line program of someone else's, against qkv in the three ways a user would:
# the installed package (find_package), add_subdirectory and FetchContent (from this repository's HEAD),
# and runs it each time.
#   bash tests/run_consumer.sh [SCRATCH_DIR]     (default /tmp/qkv-consumer)
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${1:-/tmp/qkv-consumer}
rm -rf "$scratch"
cmake -S . -B "$scratch/qkv" -DCMAKE_BUILD_TYPE=Release -DQKV_BUILD_TESTS=OFF -DQKV_BUILD_EXAMPLES=OFF > /dev/null
cmake --build "$scratch/qkv" -j2
cmake --install "$scratch/qkv" --prefix "$scratch/prefix" > /dev/null
for use in package subdir fetch; do
  echo "== consumer through $use"
  where=(-DQKV_SOURCE_DIR="$PWD")
  [ $use = package ] && where=(-DCMAKE_PREFIX_PATH="$scratch/prefix")
  cmake -S tests/consumer -B "$scratch/$use" -DCMAKE_BUILD_TYPE=Release -DQKV_USE=$use "${where[@]}" > /dev/null
  cmake --build "$scratch/$use" -j2 > "$scratch/$use.log" || { cat "$scratch/$use.log"; exit 1; }
  "$scratch/$use/app"
done
