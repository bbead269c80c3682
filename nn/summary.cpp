// The model summary (see summary.h): a walk over the module tree, one row per module and per parameter.
#include "nn/summary.h"

#include <cxxabi.h>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <typeinfo>

namespace qkv::nn {

std::string type_name(const Module& module) {
  const char* mangled = typeid(module).name();
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(abi::__cxa_demangle(mangled, nullptr, nullptr, &status),
                                                   std::free);
  std::string name = status == 0 && demangled ? demangled.get() : mangled;
  const size_t colons = name.rfind("::");  // qkv::nn::Linear -> Linear
  return colons == std::string::npos ? name : name.substr(colons + 2);
}

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

namespace {

struct Row {
  std::string name, shape;  // shape empty for a module row
  int64_t count;
};

void collect(const Module& m, const std::string& label, int depth, std::vector<Row>& rows) {
  const std::string indent(size_t(2 * depth), ' ');
  rows.push_back({indent + label + type_name(m), "", m.num_parameters()});
  for (const auto& [name, t] : m.own_parameters())
    rows.push_back({indent + "  " + name, to_string(t.shape()), t.numel()});
  for (const auto& [name, child] : m.named_children()) collect(*child, "(" + name + "): ", depth + 1, rows);
}

std::string pad_right(std::string s, size_t width) {
  return s + std::string(width - std::min(width, s.size()), ' ');
}
std::string pad_left(const std::string& s, size_t width) {
  return std::string(width - std::min(width, s.size()), ' ') + s;
}

}  // namespace

std::string summary(const Module& model) {
  std::vector<Row> rows;
  collect(model, "", 0, rows);
  size_t name_w = 18, shape_w = 5, count_w = 10;  // "module / parameter", "shape", "parameters"
  for (const Row& r : rows) {
    name_w = std::max(name_w, r.name.size());
    shape_w = std::max(shape_w, r.shape.size());
    count_w = std::max(count_w, with_commas(r.count).size());
  }
  std::string out = pad_right("module / parameter", name_w + 2) + pad_right("shape", shape_w + 2) +
                    pad_left("parameters", count_w) + "\n";
  for (const Row& r : rows)
    out += pad_right(r.name, name_w + 2) + pad_right(r.shape, shape_w + 2) +
           pad_left(with_commas(r.count), count_w) + "\n";
  const int64_t total = model.num_parameters();
  char kib[32];
  std::snprintf(kib, sizeof kib, "%.1f KiB", double(total) * 4 / 1024);
  out += "total: " + with_commas(total) + " parameters (" + kib + " as float32)\n";
  return out;
}

}  // namespace qkv::nn
