// The suite checks its own test names. tests/CMakeLists.txt registers every TEST_CASE with ctest by name,
// and a name that ctest's registration or Catch2's test-spec parser rewrites would register an entry that
// runs some other case or none (issue 12: seven cases with ';' in their names never ran).
#include <string>
#include <vector>

#include "helpers.h"

namespace {

// Why a name cannot be registered as it is, or "" when it can:
// ';' splits a CMake list (the name becomes two entries that match nothing); '\\' and '"' are escapes of
// Catch2's test spec; '*' is its wildcard and a leading '~' negates; a name must not end in a space, which
// the spec parser trims. ',' '[' ']' are escaped by catch_discover_tests and are fine.
std::string unregistrable(const std::string& name) {
  if (name.empty()) return "empty";
  for (const char c : std::string(";\\\"*"))
    if (name.find(c) != std::string::npos) return std::string("contains '") + c + "'";
  if (name.front() == '~') return "starts with '~'";
  if (name.front() == ' ' || name.back() == ' ') return "starts or ends with a space";
  for (const char c : name)
    if (static_cast<unsigned char>(c) < 0x20) return "contains a control character";
  return "";
}

std::vector<std::string> registered_names() {
  std::vector<std::string> names;
  // Catch2 v2 and v3 spell this the same way (v2's TestCase and v3's TestCaseHandle).
  for (const auto& test : Catch::getRegistryHub().getTestCaseRegistry().getAllTests())
    names.push_back(test.getTestCaseInfo().name);
  return names;
}

}  // namespace

TEST_CASE("test names: the rule refuses what ctest or Catch2 would split or rewrite") {
  CHECK(unregistrable("area: a behaviour, with commas [and brackets]") == "");
  CHECK(unregistrable("gemm: K = 0 gives zeros; M = 0 is a no-op") == "contains ';'");
  CHECK(unregistrable("paths: C:\\tmp") == "contains '\\'");
  CHECK(unregistrable("say \"hi\"") == "contains '\"'");
  CHECK(unregistrable("glob*") == "contains '*'");
  CHECK(unregistrable("~negated") == "starts with '~'");
  CHECK(unregistrable("trailing ") == "starts or ends with a space");
  CHECK(unregistrable("tab\there") == "contains a control character");
}

TEST_CASE("test names: every registered test case can be registered with ctest as it is") {
  const std::vector<std::string> names = registered_names();
  CHECK(names.size() > 200);  // the whole suite is registered, not a filtered part
  for (const std::string& name : names) {
    INFO("test case \"" << name << "\"");
    CHECK(unregistrable(name) == "");
  }
}
