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
// The number of elements: the product of the sizes, 1 for a 0-d scalar. Checked, as sizes often come from
// outside (a file, a flag): throws "op: negative size -3 in shape [2,-3]", or "op: shape [4294967296,
// 4294967296,0] has more elements than int64 can count" when the nonzero sizes multiply past 2^63 - 1
// (refused even beside a 0: such a shape is a corrupt one, not an empty one).
int64_t numel(const Shape& shape, const char* op = "numel");

// Maps a possibly negative dim (-1 = last) into [0, rank); throws "op: dim 3 out of range for shape [2,3]".
int64_t normalize_dim(const std::string& op, int64_t dim, const Shape& shape);

// NumPy broadcasting: align from the right; sizes must match or one of them be 1.
// Throws "op: shapes [2,3] and [4,3] cannot be broadcast".
Shape broadcast_shapes(const std::string& op, const Shape& a, const Shape& b);

// Row-major strides in elements: strides({2,3,4}) == {12,4,1}.
std::vector<int64_t> contiguous_strides(const Shape& shape);

}  // namespace qkv
