#!/usr/bin/env bash
# README command 2: install Catch2 if it is missing, build, and run the whole test suite with ctest.
#   bash tests/run.sh              Release build in build/
#   bash tests/run.sh --sanitize   AddressSanitizer + UndefinedBehaviorSanitizer build in build-sanitize/
set -euo pipefail
cd "$(dirname "$0")/.."

have_catch2() {
  for dir in /usr/include /usr/local/include; do
    [ -f "$dir/catch2/catch.hpp" ] || [ -f "$dir/catch2/catch_all.hpp" ] && return 0
  done
  return 1
}
if ! have_catch2; then
  echo "tests/run.sh: Catch2 is missing; installing Debian's package 'catch2'"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq catch2
fi

build=build
config=(-DCMAKE_BUILD_TYPE=Release)
if [ "${1:-}" = "--sanitize" ]; then
  build=build-sanitize
  # -g1: line tables, all a sanitizer's report needs (file:line in every frame); the full -g made this
  # build ~1.7x slower to compile.
  config=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DQKV_SANITIZE=ON "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")
fi
cmake -S . -B "$build" "${config[@]}"
cmake --build "$build" -j2
ctest --test-dir "$build" --output-on-failure -j2 --timeout 600 | tee "$build/ctest.log"
bash tests/check_test_count.sh "$build" "$build/ctest.log"
