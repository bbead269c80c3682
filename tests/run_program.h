// Running a built program from a test: its exit status and everything it printed (stdout and stderr).
// For the tests of the example programs' refusals; a program killed by a signal fails the test.
#pragma once
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "catch.h"

namespace qkv::testing {

struct ProgramRun {
  int status;          // the exit status
  std::string output;  // stdout and stderr together
};

#if defined(QKV_EXAMPLES_DIR)
// The command that starts example program `name` (tests/CMakeLists.txt: through the emulator when the
// build is cross-compiled).
inline std::string example(const std::string& name) {
  const std::string runner = QKV_EXAMPLE_RUNNER;
  return (runner.empty() ? "" : runner + " ") + QKV_EXAMPLES_DIR "/" + name;
}
#endif

// Runs a shell command line with its stderr joined to its stdout.
inline ProgramRun run_program(const std::string& command) {
  const std::string joined = command + " 2>&1";
  FILE* pipe = popen(joined.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) output.append(buf, n);
  const int status = pclose(pipe);
  INFO(command << "\n" << output);
  REQUIRE(WIFEXITED(status));  // not killed by a signal
  return {WEXITSTATUS(status), output};
}

}  // namespace qkv::testing
