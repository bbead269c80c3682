#!/usr/bin/env bash
# The test suite against Catch2 v3, which Debian 12 does not package (it ships v2.13): fetches the source of
# Debian 13's catch2 package (3.7.1) with apt-get source, builds and installs it into a scratch prefix,
# then builds qkv's tests against it in build-catch2-v3/ and runs them with ctest. CI builds against it
# through tests/run_clang.sh --catch2-v3, so that the v3 path of tests/catch.h and tests/CMakeLists.txt
# keeps working for users who have v3.
#   bash tests/run_catch2_v3.sh [SCRATCH_DIR]     (default /tmp/qkv-catch2-v3)
#   bash tests/run_catch2_v3.sh --prefix-only [SCRATCH_DIR]
#                                  only fetch, build and install Catch2 v3; the last line printed is its
#                                  prefix (tests/run_clang.sh --catch2-v3 builds qkv with clang against it)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix_only=0
[ "${1:-}" = "--prefix-only" ] && { prefix_only=1; shift; }
scratch=${1:-/tmp/qkv-catch2-v3}
prefix=$scratch/install
mkdir -p "$scratch/apt/lists/partial" "$scratch/apt/cache/archives/partial" "$scratch/src"

if [ ! -f "$prefix/lib/cmake/Catch2/Catch2Config.cmake" ]; then
  # A private apt configuration that knows only trixie's source index: the system's sources stay untouched.
  echo "deb-src http://deb.debian.org/debian trixie main" > "$scratch/apt/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$scratch/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o "Dir::State::Lists=$scratch/apt/lists" -o "Dir::Cache=$scratch/apt/cache")
  apt-get "${apt_opts[@]}" update -qq
  (cd "$scratch/src" && apt-get "${apt_opts[@]}" source --download-only -qq catch2=3.7.1-0.5)
  tar xzf "$scratch/src/catch2_3.7.1.orig.tar.gz" -C "$scratch/src"
  cmake -S "$scratch/src/Catch2-3.7.1" -B "$scratch/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    -DCATCH_INSTALL_DOCS=OFF -DCMAKE_INSTALL_PREFIX="$prefix" > "$scratch/configure.log"
  cmake --build "$scratch/build" -j2 > "$scratch/build.log"
  cmake --install "$scratch/build" > "$scratch/install.log"
fi
[ "$prefix_only" -eq 1 ] && { echo "$prefix"; exit 0; }

cmake -S . -B build-catch2-v3 -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix"
grep -q "QKV_CATCH2_V3" build-catch2-v3/tests/CMakeFiles/qkv_tests.dir/flags.make ||
  { echo "tests/run_catch2_v3.sh: the tests were not configured for Catch2 v3"; exit 1; }
cmake --build build-catch2-v3 -j2 --target qkv_tests
ctest --test-dir build-catch2-v3 --output-on-failure -j2 --timeout 600 | tee build-catch2-v3/ctest.log
bash tests/check_test_count.sh build-catch2-v3 build-catch2-v3/ctest.log
