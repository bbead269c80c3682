// The README and the course's contents page lead to every page of the course: a chapter or derivation
// added to docs/ without a link from both fails here. (The README's code is checked by
// tests/test_docs_quotes.cpp, like every other cpp block.)
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "catch.h"

namespace fs = std::filesystem;

static std::string read_text(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The .md files of a folder of docs/ whose names start with a digit (chapters) or any .md (derivations).
static std::vector<std::string> pages_in(const std::string& folder, bool chapters_only) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(fs::path(QKV_SOURCE_DIR) / folder)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".md" && (!chapters_only || std::isdigit(name[0]))) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST_CASE("readme: the README links every chapter and the course page") {
  const std::string readme = read_text(QKV_SOURCE_DIR "/README.md");
  const std::vector<std::string> chapters = pages_in("docs", true);
  CHECK(chapters.size() >= 11);
  for (const std::string& chapter : chapters) {
    INFO(chapter);
    CHECK(readme.find("](docs/" + chapter + ")") != std::string::npos);
  }
  CHECK(readme.find("](docs/README.md)") != std::string::npos);
}

TEST_CASE("readme: the course page links every chapter and derivation") {
  const std::string course = read_text(QKV_SOURCE_DIR "/docs/README.md");
  for (const std::string& chapter : pages_in("docs", true)) {
    INFO(chapter);
    CHECK(course.find("](" + chapter + ")") != std::string::npos);
  }
  const std::vector<std::string> derivations = pages_in("docs/derivations", false);
  CHECK(derivations.size() >= 4);
  for (const std::string& derivation : derivations) {
    INFO(derivation);
    CHECK(course.find("](derivations/" + derivation + ")") != std::string::npos);
  }
}
