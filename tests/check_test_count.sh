#!/usr/bin/env bash
# Every test case the binary lists must have run and passed as its own ctest entry: compares the number of
# TEST_CASEs qkv_tests lists with the number of ctest entries and with the number ctest saw pass. Each entry
# runs with --warn NoTests (tests/CMakeLists.txt), so an entry whose name matches no case fails instead of
# passing empty; with that, equal counts mean every case ran exactly once.
#   bash tests/check_test_count.sh BUILD_DIR CTEST_LOG [LEFT_OUT_REGEX]
# A run that left cases out on purpose (ctest -E LEFT_OUT_REGEX) passes that regex too: the cases it
# matches are named, and every other case must have passed.
# A cross-compiled binary is listed through QKV_TEST_RUNNER (say "qemu-aarch64 -L /usr/aarch64-linux-gnu").
set -euo pipefail
build=$1 log=$2
read -r -a runner <<< "${QKV_TEST_RUNNER:-}"
binary=$build/tests/qkv_tests
# Catch2 v2 lists names with --list-test-names-only (its exit status is the count); v3 dropped that flag
# for --list-tests --verbosity quiet.
names=$("${runner[@]}" "$binary" --list-test-names-only 2>/dev/null || true)
[ -n "$names" ] || names=$("${runner[@]}" "$binary" --list-tests --verbosity quiet)
listed=$(grep -c . <<< "$names")
registered=$(ctest --test-dir "$build" -N | awk '/^Total Tests:/ { print $3 }')
passed=$(awk '/tests passed, 0 tests failed out of/ { print $NF }' "$log")
left_out=0
if [ -n "${3:-}" ]; then
  left_out=$(grep -E -c -- "$3" <<< "$names" || true)
  grep -E -- "$3" <<< "$names" | sed 's/^/check_test_count: left out on purpose: /'
fi
echo "check_test_count: $listed test cases listed, $registered ctest entries, ${passed:-0} passed, $left_out left out"
if [ "$listed" -ne "$registered" ] || [ "${passed:-0}" -ne "$((listed - left_out))" ]; then
  echo "check_test_count: the counts differ: a test case was registered under a name that does not select it"
  exit 1
fi
