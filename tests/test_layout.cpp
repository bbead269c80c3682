// The rules the tree follows, checked so they are kept by a test and not by habit (docs/01):
//   1. the floors: tensor/ includes nothing from autograd/ or nn/, autograd/ nothing from nn/;
//   2. tensor/'s machinery (any header in a folder under tensor/: gemm/, simd/, loops/) is private: only
//      tensor/ itself, the tests that check that machinery and the benchmarks that time it
//      (examples/bench_*) include it. The public kernel families are the headers directly in tensor/.
// Reads every #include "..." of every source file under the project's folders.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "helpers.h"

namespace fs = std::filesystem;

namespace {

struct Include {
  std::string file;    // where, relative to the root: "nn/attention.cpp"
  std::string header;  // what: "tensor/tensor.h"
};

// Why `include` breaks a rule, or "" when it keeps them all.
std::string broken_rule(const Include& include) {
  const auto in = [](const std::string& path, const std::string& folder) {
    return path.rfind(folder, 0) == 0;
  };
  if (in(include.file, "tensor/") && (in(include.header, "autograd/") || in(include.header, "nn/")))
    return "tensor/ includes a higher floor";
  if (in(include.file, "autograd/") && in(include.header, "nn/")) return "autograd/ includes nn/";
  const bool private_header =
      in(include.header, "tensor/") && include.header.find('/', 7) != std::string::npos;
  if (private_header && !in(include.file, "tensor/") && !in(include.file, "tests/") &&
      !in(include.file, "examples/bench_"))
    return "a private header of tensor/ is included from outside tensor/";
  return "";
}

std::vector<Include> project_includes(const fs::path& root) {
  std::vector<Include> includes;
  for (const char* folder : {"tensor", "autograd", "nn", "examples", "tests", "docs"})
    for (const auto& entry : fs::recursive_directory_iterator(root / folder)) {
      const std::string ext = entry.path().extension().string();
      if (ext != ".h" && ext != ".cpp") continue;
      std::ifstream in(entry.path());
      for (std::string line; std::getline(in, line);) {
        const std::string directive = "#include \"";
        if (line.rfind(directive, 0) != 0) continue;
        const size_t end = line.find('"', directive.size());
        includes.push_back({fs::relative(entry.path(), root).generic_string(),
                            line.substr(directive.size(), end - directive.size())});
      }
    }
  return includes;
}

}  // namespace

TEST_CASE("layout: the rules refuse an include that climbs a floor or reaches into tensor's machinery") {
  CHECK(broken_rule({"nn/attention.cpp", "tensor/tensor.h"}) == "");
  CHECK(broken_rule({"autograd/ops.h", "tensor/attention.h"}) == "");
  CHECK(broken_rule({"tensor/gemm/gemm.cpp", "tensor/gemm/pack.h"}) == "");
  CHECK(broken_rule({"tests/test_gemm.cpp", "tensor/gemm/gemm.h"}) == "");
  CHECK(broken_rule({"tensor/matmul.cpp", "autograd/node.h"}) == "tensor/ includes a higher floor");
  CHECK(broken_rule({"tensor/tensor.h", "nn/module.h"}) == "tensor/ includes a higher floor");
  CHECK(broken_rule({"autograd/ops.cpp", "nn/mask.h"}) == "autograd/ includes nn/");
  CHECK(broken_rule({"nn/attention.cpp", "tensor/gemm/gemm.h"}) ==
        "a private header of tensor/ is included from outside tensor/");
  CHECK(broken_rule({"examples/bench_matmul.cpp", "tensor/gemm/gemm.h"}) == "");
  CHECK(broken_rule({"examples/train_reverse.cpp", "tensor/simd/isa.h"}) ==
        "a private header of tensor/ is included from outside tensor/");
}

TEST_CASE("layout: every include in the tree keeps the floors and tensor's privacy") {
  const std::vector<Include> includes = project_includes(QKV_SOURCE_DIR);
  CHECK(includes.size() > 300);  // the whole tree was read
  for (const Include& include : includes) {
    INFO(include.file << " includes \"" << include.header << "\"");
    CHECK(broken_rule(include) == "");
  }
}
