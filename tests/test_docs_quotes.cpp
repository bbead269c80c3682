// Every ```cpp block of the course (docs/*.md, docs/derivations/*.md) and of README.md is a quote of code
// that compiles: the line just before the block names its source, `<!-- quote: tensor/tensor.h -->`, and
// the block must appear in that file line for line (leading spaces aside). A block that shows how to use
// qkv rather than how it is built names the test that compiles and runs it (tests/test_docs_course.cpp).
// Why a marker rather than a search of the whole tree: the reader is told where the code lives, a block
// matches only the file it claims (not a comment that happens to repeat it), and a block with no marker
// fails instead of passing unchecked. The marker is an HTML comment, so it does not show when rendered.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "catch.h"

namespace fs = std::filesystem;
using Catch::Contains;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string without_leading_spaces(const std::string& line) {
  return line.substr(std::min(line.find_first_not_of(' '), line.size()));
}

// The path in `<!-- quote: PATH -->`, or "" when the line is not a quote marker.
std::string quoted_path(const std::string& line) {
  const std::string open = "<!-- quote: ", close = " -->";
  if (line.rfind(open, 0) != 0 || line.size() < open.size() + close.size() ||
      line.compare(line.size() - close.size(), close.size(), close) != 0)
    return {};
  return line.substr(open.size(), line.size() - open.size() - close.size());
}

// Every problem with the cpp blocks of one page, one line each ("" when there is none). `read_source`
// returns a file's text by its path from the repository root, "" when it does not exist. `blocks` counts
// the cpp blocks seen.
std::string quote_problems(const std::string& page_name, const std::string& page,
                           const std::function<std::string(const std::string&)>& read_source, int& blocks) {
  std::string problems;
  const std::vector<std::string> lines = lines_of(page);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string fence = without_leading_spaces(lines[i]);
    if (fence.rfind("```", 0) != 0 || fence == "```") continue;
    const std::string where = page_name + ":" + std::to_string(i + 1) + ": ";
    const std::string language = fence.substr(3);
    std::vector<std::string> block;
    size_t end = i + 1;
    for (; end < lines.size() && without_leading_spaces(lines[end]) != "```"; ++end)
      block.push_back(without_leading_spaces(lines[end]));
    const size_t open = i;
    i = end;
    if (language == "c++" || language == "cc" || language == "cxx" || language == "C++") {
      problems += where + "spell the language of a C++ block cpp, so that it is checked\n";
      continue;
    }
    if (language != "cpp") continue;
    ++blocks;
    const std::string path = open > 0 ? quoted_path(lines[open - 1]) : "";
    if (path.empty()) {
      problems += where + "a cpp block needs <!-- quote: path --> on the line before it\n";
      continue;
    }
    const std::string source = read_source(path);
    if (source.empty()) {
      problems += where + "quotes " + path + ", which does not exist\n";
      continue;
    }
    std::vector<std::string> code = lines_of(source);
    std::transform(code.begin(), code.end(), code.begin(), without_leading_spaces);
    if (block.empty() || std::search(code.begin(), code.end(), block.begin(), block.end()) == code.end()) {
      // Name the first line that is not in the file, the usual culprit.
      std::string missing = block.empty() ? "(the block is empty)" : block.front();
      for (const std::string& line : block)
        if (std::find(code.begin(), code.end(), line) == code.end()) {
          missing = line;
          break;
        }
      problems +=
          where + "the block is not in " + path + " as written; first line not there: " + missing + "\n";
    }
  }
  return problems;
}

std::string read_from_root(const std::string& path) { return read_text(fs::path(QKV_SOURCE_DIR) / path); }

// README.md, docs/*.md and docs/derivations/*.md, by path from the root, sorted.
std::vector<std::string> pages() {
  std::vector<std::string> found{"README.md"};
  for (const std::string folder : {"docs", "docs/derivations"})
    for (const auto& entry : fs::directory_iterator(fs::path(QKV_SOURCE_DIR) / folder))
      if (entry.path().extension() == ".md") found.push_back(folder + "/" + entry.path().filename().string());
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace

TEST_CASE("docs quotes: every cpp block of the course and the README is in the file it names") {
  int blocks = 0;
  for (const std::string& page : pages()) {
    INFO(page);
    CHECK(quote_problems(page, read_from_root(page), read_from_root, blocks) == "");
  }
  CHECK(pages().size() >= 17);  // README, docs/README, 11 chapters, 4 derivations
  CHECK(blocks >= 19);
}

TEST_CASE("docs quotes: the checker catches a wrong block - a missing marker and a missing file") {
  const auto source = [](const std::string& path) {
    return path == "lib/add.h" ? std::string("int add(int a, int b) {\n  return a + b;\n}\n") : std::string();
  };
  const std::string page =
      "# A page\n"
      "<!-- quote: lib/add.h -->\n"
      "```cpp\n"
      "int add(int a, int b) {\n"
      "    return a + b;\n"  // other indentation: still a quote
      "```\n"
      "<!-- quote: lib/add.h -->\n"
      "```cpp\n"
      "int add(int a, int b) {\n"
      "  return a - b;\n"  // drifted
      "```\n"
      "```cpp\n"  // no marker
      "int x = 1;\n"
      "```\n"
      "<!-- quote: lib/gone.h -->\n"
      "```cpp\n"
      "int y = 2;\n"
      "```\n"
      "```c++\n"
      "int z = 3;\n"
      "```\n"
      "```text\n"
      "not code, not checked\n"
      "```\n";
  int blocks = 0;
  const std::string problems = quote_problems("page.md", page, source, blocks);
  CHECK(blocks == 4);
  CHECK_THAT(problems, Contains("page.md:8: the block is not in lib/add.h as written; first line not there: "
                                "return a - b;"));
  CHECK_THAT(problems, Contains("page.md:12: a cpp block needs <!-- quote: path -->"));
  CHECK_THAT(problems, Contains("page.md:16: quotes lib/gone.h, which does not exist"));
  CHECK_THAT(problems, Contains("page.md:19: spell the language of a C++ block cpp"));
  CHECK(lines_of(problems).size() == 4);  // and the first block, a true quote, is not among them
}
