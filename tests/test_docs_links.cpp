// Every relative link of the course and the README leads somewhere: [text](path) and ![picture](path) must
// name a file or folder that exists (a file moved or renamed without its links fails here). Links to the web
// (http...), to anchors in the same page (#...) and to ../shared (outside the repository, which the docs may
// name only as optional) are not followed. An anchor after a path (page.md#part) is cut off.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "helpers.h"

namespace fs = std::filesystem;

namespace {

struct Link {
  int line;
  std::string target;
};

// The targets of every markdown link on a page, outside fenced code blocks.
std::vector<Link> links_of(const std::string& page) {
  std::vector<Link> links;
  std::istringstream in(page);
  bool in_code = false;
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.find("```") != std::string::npos) in_code = !in_code;
    if (in_code) continue;
    for (size_t at = line.find("]("); at != std::string::npos; at = line.find("](", at + 2)) {
      const size_t end = line.find(')', at + 2);
      if (end == std::string::npos) break;
      links.push_back({number, line.substr(at + 2, end - at - 2)});
    }
  }
  return links;
}

// Why a link from page_dir does not lead anywhere, or "" when it does (or is not ours to follow).
std::string broken(const fs::path& page_dir, std::string target) {
  if (target.empty()) return "empty link";
  if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0 || target[0] == '#') return "";
  if (const size_t hash = target.find('#'); hash != std::string::npos) target.resize(hash);
  if (target.find("../shared") != std::string::npos) return "";
  return fs::exists(page_dir / target) ? ""
                                       : "no such file: " + (page_dir / target).lexically_normal().string();
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("docs links: the checker finds links and tells a broken one") {
  const std::vector<Link> found =
      links_of("see [a](a.md) and ![p](img/p.svg)\n```\n[not](code.md)\n```\n[b](b.md#x)");
  REQUIRE(found.size() == 3);
  CHECK(found[0].target == "a.md");
  CHECK(found[1].target == "img/p.svg");
  CHECK(found[2].line == 5);
  const fs::path root = QKV_SOURCE_DIR;
  CHECK(broken(root, "README.md#quick-start") == "");
  CHECK(broken(root / "docs", "../tensor/tensor.h") == "");
  CHECK(broken(root, "https://example.org") == "");
  CHECK(broken(root / "docs", "../tensor/no_such_file.h").find("no such file") == 0);
}

TEST_CASE("docs links: every relative link of the README and the course leads to a file that exists") {
  const fs::path root = QKV_SOURCE_DIR;
  std::vector<fs::path> pages{root / "README.md"};
  for (const char* folder : {"docs", "docs/derivations"})
    for (const auto& entry : fs::directory_iterator(root / folder))
      if (entry.path().extension() == ".md") pages.push_back(entry.path());
  int checked = 0;
  for (const fs::path& page : pages)
    for (const Link& link : links_of(read_text(page))) {
      INFO(fs::relative(page, root).string() << ":" << link.line << ": (" << link.target << ")");
      CHECK(broken(page.parent_path(), link.target) == "");
      ++checked;
    }
  CHECK(checked > 50);  // the pages were read and hold links
}
