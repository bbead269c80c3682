// The README shows examples/tour.cpp as its taste of the API: this keeps the two the same, so the
// README's code is always code that compiles and runs.
#include <fstream>
#include <sstream>

#include "catch.h"

static std::string read_text(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_CASE("readme: the API taste is examples/tour.cpp as it is") {
  const std::string readme = read_text(QKV_SOURCE_DIR "/README.md");
  const std::string tour = read_text(QKV_SOURCE_DIR "/examples/tour.cpp");
  const std::string body = tour.substr(tour.find("#include <iostream>"));
  CHECK(readme.find(body) != std::string::npos);
}
