// Shape helpers (see shape.h).
#include "tensor/shape.h"

#include <limits>

#include "tensor/error.h"

namespace qkv {

std::string to_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t numel(const Shape& shape, const char* op) {
  int64_t nonzero_product = 1;
  bool has_zero = false;
  for (const int64_t s : shape) {
    if (s < 0) fail(op, "negative size " + std::to_string(s) + " in shape " + to_string(shape));
    if (s == 0) {
      has_zero = true;
    } else if (nonzero_product > std::numeric_limits<int64_t>::max() / s) {  // the product would wrap
      fail(op, "shape " + to_string(shape) + " has more elements than int64 can count");
    } else {
      nonzero_product *= s;
    }
  }
  return has_zero ? 0 : nonzero_product;
}

int64_t normalize_dim(const std::string& op, int64_t dim, const Shape& shape) {
  const auto rank = static_cast<int64_t>(shape.size());
  const int64_t d = dim < 0 ? dim + rank : dim;
  if (d < 0 || d >= rank)
    fail(op, "dim " + std::to_string(dim) + " out of range for shape " + to_string(shape));
  return d;
}

Shape broadcast_shapes(const std::string& op, const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    // Walk from the right: a missing leading dim acts as size 1.
    const int64_t sa = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t sb = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (sa != sb && sa != 1 && sb != 1)
      fail(op, "shapes " + to_string(a) + " and " + to_string(b) + " cannot be broadcast");
    out[i] = sa == 1 ? sb : sa;
  }
  return out;
}

std::vector<int64_t> contiguous_strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

}  // namespace qkv
