#!/usr/bin/env bash
# The library, examples and tests built with clang (Debian's clang 14, as old as the clang that many Macs
# have) with every warning an error, then the suite run with ctest: code that only GCC accepts, or that
# warns under clang, fails here. Skips with a message where clang++ is not installed.
#   bash tests/run_clang.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang++ > /dev/null; then
  echo "run_clang: clang++ is not installed, so nothing was built with it (apt-get install clang)"
  exit 0
fi
build=build-clang
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS=-Werror > /dev/null
cmake --build "$build" -j2
ctest --test-dir "$build" --output-on-failure -j2 --timeout 600 | tee "$build/ctest.log"
bash tests/check_test_count.sh "$build" "$build/ctest.log"
