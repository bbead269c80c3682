// The thread settings refuse what is not a thread count (set_num_threads, QKV_NUM_THREADS) and cap far more
// threads than cores with a one-line warning (issue 12). A malformed QKV_NUM_THREADS stopping a whole
// program is checked in test_refusals_cli.cpp, which runs the examples.
#include <algorithm>
#include <iostream>
#include <sstream>
#include <string>

#include "helpers.h"
#include "tensor/parallel.h"

using namespace qkv;
using Catch::Contains;

namespace {

// Runs f with std::cerr captured; returns what it wrote.
template <class F>
std::string cerr_of(F&& f) {
  std::ostringstream captured;
  std::streambuf* saved = std::cerr.rdbuf(captured.rdbuf());
  try {
    f();
  } catch (...) {
    std::cerr.rdbuf(saved);
    throw;
  }
  std::cerr.rdbuf(saved);
  return captured.str();
}

}  // namespace

TEST_CASE("threads: set_num_threads refuses fewer than one thread and keeps the count") {
  const int saved = get_num_threads();
  CHECK_THAT(ERROR_OF(set_num_threads(0)), Contains("set_num_threads: need at least 1 thread, got 0"));
  CHECK_THAT(ERROR_OF(set_num_threads(-3)), Contains("got -3"));
  CHECK(get_num_threads() == saved);
}

TEST_CASE("threads: far more threads than cores are capped with a one-line warning") {
  const int saved = get_num_threads();
  REQUIRE(max_threads() >= 4);
  const std::string quiet = cerr_of([] { set_num_threads(max_threads()); });
  CHECK(quiet.empty());
  CHECK(get_num_threads() == max_threads());
  const std::string warned = cerr_of([] { set_num_threads(max_threads() + 1); });
  CHECK(get_num_threads() == max_threads());
  CHECK_THAT(warned, Contains("set_num_threads(" + std::to_string(max_threads() + 1) + ")") &&
                         Contains("capped at " + std::to_string(max_threads())));
  CHECK(std::count(warned.begin(), warned.end(), '\n') == 1);
  // 3e9 would wrap to a negative int: the count is 64-bit all the way to the cap
  const std::string huge = cerr_of([] { set_num_threads(3'000'000'000LL); });
  CHECK(get_num_threads() == max_threads());
  CHECK_THAT(huge, Contains("set_num_threads(3000000000)"));
  set_num_threads(saved);
}

TEST_CASE("threads: QKV_NUM_THREADS must be a whole number of threads") {
  for (const char* bad : {"abc", "0", "-2", "", "2.5", " 2", "2 ", "+2", "0x10", "1e3"})
    CHECK_THAT(
        ERROR_OF(threads_from_env(bad)),
        Contains(std::string("QKV_NUM_THREADS must be a whole number of threads >= 1, got \"") + bad + "\""));
  // bytes that would garble a terminal are escaped, not copied
  CHECK_THAT(ERROR_OF(threads_from_env("2\n\x01")), Contains("got \"2\\n\\x01\""));
  CHECK(threads_from_env("3") == 3);
  CHECK(threads_from_env("1") == 1);
}

TEST_CASE("threads: an unset QKV_NUM_THREADS means every core and a huge one is capped") {
  CHECK(threads_from_env(nullptr) >= 1);
  CHECK(threads_from_env(nullptr) <= max_threads());
  std::string warned;
  int n = 0;
  warned = cerr_of([&] { n = threads_from_env("99999999999999999999999"); });
  CHECK(n == max_threads());
  CHECK_THAT(warned, Contains("QKV_NUM_THREADS=99999999999999999999999") && Contains("capped at"));
}
