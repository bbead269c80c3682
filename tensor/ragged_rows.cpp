// A ragged batch's layout (see ragged_rows.h).
#include "tensor/ragged_rows.h"

#include <algorithm>
#include <string>

#include "tensor/error.h"

namespace qkv::kernels {

int64_t RaggedRows::longest(const std::vector<int64_t>& splits) {
  int64_t longest = 0;
  for (size_t i = 1; i < splits.size(); ++i) longest = std::max(longest, splits[i] - splits[i - 1]);
  return longest;
}

void RaggedRows::check(const char* op, int64_t q_rows, int64_t k_rows) const {
  auto check_splits = [&](const std::vector<int64_t>& splits, const char* name, int64_t rows) {
    bool ok =
        splits.size() == q_splits.size() && !splits.empty() && splits.front() == 0 && splits.back() == rows;
    for (size_t i = 1; ok && i < splits.size(); ++i) ok = splits[i] >= splits[i - 1];
    if (!ok)
      fail(op,
           std::string(name) + " must rise from 0 to the " + std::to_string(rows) + " rows, one split per " +
               "sequence and one more (" + std::to_string(q_splits.size()) + " query splits), got " +
               std::to_string(splits.size()) + " splits from " +
               (splits.empty() ? "nothing"
                               : std::to_string(splits.front()) + " to " + std::to_string(splits.back())));
  };
  check_splits(q_splits, "q_splits", q_rows);
  check_splits(k_splits, "k_splits", k_rows);
}

}  // namespace qkv::kernels
