#!/usr/bin/env bash
# The library, examples and tests built with clang (Debian's clang 14, as old as the clang that many Macs
# have) with every warning an error, then the suite run with ctest: code that only GCC accepts, or that
# warns under clang, fails here. Skips with a message where clang++ is not installed (fails, with
# --catch2-v3).
#   bash tests/run_clang.sh                against the Catch2 that CMake finds (Debian 12's v2), in build-clang/
#   bash tests/run_clang.sh --catch2-v3    against Catch2 v3 (tests/run_catch2_v3.sh builds it), in
#                                          build-clang-catch2-v3/. CI runs this one: a build of the whole
#                                          tree checks both clang and the v3 side of tests/catch.h.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang++ > /dev/null; then
  echo "run_clang: clang++ is not installed, so nothing was built with it (apt-get install clang)"
  # With --catch2-v3 (CI) a skip would also skip the Catch2 v3 build: that fails instead.
  [ "${1:-}" = "--catch2-v3" ] && exit 1
  exit 0
fi
build=build-clang
catch2=()
if [ "${1:-}" = "--catch2-v3" ]; then
  build=build-clang-catch2-v3
  prefix=$(bash tests/run_catch2_v3.sh --prefix-only | tail -n 1)
  catch2=(-DCMAKE_PREFIX_PATH="$prefix")
fi
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS=-Werror \
  "${catch2[@]}" > /dev/null
if [ "${1:-}" = "--catch2-v3" ] && ! grep -q "QKV_CATCH2_V3" "$build/tests/CMakeFiles/qkv_tests.dir/flags.make"; then
  echo "run_clang: the tests were not configured for Catch2 v3"
  exit 1
fi
cmake --build "$build" -j2
ctest --test-dir "$build" --output-on-failure -j2 --timeout 600 | tee "$build/ctest.log"
bash tests/check_test_count.sh "$build" "$build/ctest.log"
