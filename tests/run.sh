#!/usr/bin/env bash
# README command 2: install Catch2 if it is missing, build, and run the whole test suite with ctest.
#   bash tests/run.sh              Release build in build/
#   bash tests/run.sh --sanitize   AddressSanitizer + UndefinedBehaviorSanitizer build in build-sanitize/
#   bash tests/run.sh --emulate-avx512
#                                  the AVX-512 kernels emulated on an AVX2 CPU (SIMDe; installs Debian's
#                                  libsimde-dev if missing) in build-emulate-avx512/: every test on that path
set -euo pipefail
cd "$(dirname "$0")/.."

have_catch2() {
  for dir in /usr/include /usr/local/include; do
    [ -f "$dir/catch2/catch.hpp" ] || [ -f "$dir/catch2/catch_all.hpp" ] && return 0
  done
  return 1
}
# Debian's package $2, named $1 in the message, as root or through sudo.
apt_install() {
  echo "tests/run.sh: $1 is missing; installing Debian's package '$2'"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2"
}
build=build
config=(-DCMAKE_BUILD_TYPE=Release)
case "${1:-}" in
  "") ;;
  --sanitize)
    build=build-sanitize
    # -g1: line tables, all a sanitizer's report needs (file:line in every frame); the full -g made this
    # build ~1.7x slower to compile.
    config=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DQKV_SANITIZE=ON "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")
    ;;
  --emulate-avx512)
    [ -f /usr/include/simde/x86/avx512.h ] || apt_install SIMDe libsimde-dev
    build=build-emulate-avx512
    config=(-DCMAKE_BUILD_TYPE=Release -DQKV_EMULATE_AVX512=ON)
    ;;
  *) echo "tests/run.sh: unknown option '$1' (none, --sanitize or --emulate-avx512)"; exit 2 ;;
esac
have_catch2 || apt_install Catch2 catch2
cmake -S . -B "$build" "${config[@]}"
cmake --build "$build" -j2
ctest --test-dir "$build" --output-on-failure -j2 --timeout 600 | tee "$build/ctest.log"
bash tests/check_test_count.sh "$build" "$build/ctest.log"
