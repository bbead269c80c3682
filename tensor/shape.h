// Shapes: a list of sizes, outermost first (row-major). Helpers every op uses to check and combine them.
// Legend used in comments across qkv: B batch, T query positions, S key positions, D model width,
// H heads, Dh = D/H, V vocabulary.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace qkv {

using Shape = std::vector<int64_t>;

std::string to_string(const Shape& shape);  // "[2,3]"; "[]" for a 0-d scalar
int64_t numel(const Shape& shape);           // product of sizes; 1 for a 0-d scalar

// Maps a possibly negative dim (-1 = last) into [0, rank); throws "op: dim 3 out of range for shape [2,3]".
int64_t normalize_dim(const std::string& op, int64_t dim, const Shape& shape);

// NumPy broadcasting: align from the right; sizes must match or one of them be 1.
// Throws "op: shapes [2,3] and [4,3] cannot be broadcast".
Shape broadcast_shapes(const std::string& op, const Shape& a, const Shape& b);

// Row-major strides in elements: strides({2,3,4}) == {12,4,1}.
std::vector<int64_t> contiguous_strides(const Shape& shape);

}  // namespace qkv
