// Shape ops (see shape_ops.h): views (reshape, unsqueeze, squeeze) and copies (permute, slice, concat,
// index_select ...). The strided copies are one map_strided call with the right strides (tensor/loops/strided.h).
// Not here: gradients (autograd/) and non-contiguous views (every copy is contiguous, by design).
#include "tensor/shape_ops.h"

#include <algorithm>
#include <cmath>

#include "tensor/loops/lanes.h"
#include "tensor/loops/strided.h"
#include "tensor/value_text.h"

namespace qkv::kernels {
namespace {

// The position a new dim takes in a tensor of rank r: dim in [-(r+1), r], as unsqueeze and stack accept.
int64_t normalize_new_dim(const char* op, int64_t dim, const Shape& shape) {
  const auto r = static_cast<int64_t>(shape.size());
  const int64_t d = dim < 0 ? dim + r + 1 : dim;
  if (d < 0 || d > r)
    fail(op, "dim " + std::to_string(dim) + " out of range for inserting into shape " + to_string(shape));
  return d;
}

// Copies x, read through `strides` from `first` (laid over out_shape), into a new contiguous tensor.
Tensor strided_copy(const Shape& out_shape, const float* first, Strides strides) {
  if (qkv::numel(out_shape) == 0) return Tensor(out_shape);
  return map_strided<1>(out_shape, {StridedInput{first, std::move(strides)}}, [](float v) { return v; });
}

// An index stored as a float: must be a whole number in [0, size).
int64_t checked_index(const char* op, float v, int64_t size) {
  if (!std::isfinite(v) || v != std::floor(v)) fail(op, "index " + value_text(v) + " is not an integer");
  if (v < 0 || v >= static_cast<float>(size))
    fail(op, "index " + value_text(v) + " is out of range for a dim of size " + std::to_string(size));
  return static_cast<int64_t>(v);
}

// x.shape[:dim] + indices.shape + x.shape[dim+1:]: the shape of a gather along dim.
Shape gathered_shape(const Shape& x, int64_t dim, const Shape& indices) {
  Shape out(x.begin(), x.begin() + dim);
  out.insert(out.end(), indices.begin(), indices.end());
  out.insert(out.end(), x.begin() + dim + 1, x.end());
  return out;
}

}  // namespace

Tensor reshape(const Tensor& x, Shape shape) {
  const Shape asked = shape;
  auto mismatch = [&] {
    fail("reshape", "cannot reshape " + to_string(x.shape()) + " (" + std::to_string(x.numel()) +
                        " elements) into " + to_string(asked));
  };
  int64_t inferred = -1, known = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1) {
      if (inferred >= 0) fail("reshape", "only one dim may be -1, got " + to_string(asked));
      inferred = static_cast<int64_t>(d);
    } else if (shape[d] < 0) {
      fail("reshape", "negative size in " + to_string(asked));
    } else {
      known *= shape[d];
    }
  }
  if (inferred >= 0) {
    if (known == 0 || x.numel() % known != 0) mismatch();
    shape[inferred] = x.numel() / known;
  }
  if (qkv::numel(shape) != x.numel()) mismatch();
  return x.view(std::move(shape));
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  Shape shape = x.shape();
  shape.insert(shape.begin() + normalize_new_dim("unsqueeze", dim, shape), 1);
  return x.view(std::move(shape));
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  Shape shape = x.shape();
  const int64_t d = normalize_dim("squeeze", dim, shape);
  if (shape[d] != 1)
    fail("squeeze", "dim " + std::to_string(dim) + " of shape " + to_string(shape) + " has size " +
                        std::to_string(shape[d]) + ", not 1");
  shape.erase(shape.begin() + d);
  return x.view(std::move(shape));
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  const Shape& in = x.shape();
  auto not_a_permutation = [&] {
    fail("permute", to_string(dims) + " is not a permutation of the dims of shape " + to_string(in));
  };
  if (dims.size() != in.size()) not_a_permutation();
  const Strides in_strides = contiguous_strides(in);
  Shape out(in.size());
  Strides strides(in.size());
  std::vector<bool> seen(in.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    const int64_t d = normalize_dim("permute", dims[i], in);
    if (seen[d]) not_a_permutation();
    seen[d] = true;
    out[i] = in[d];
    strides[i] = in_strides[d];  // stepping along output dim i walks input dim d
  }
  return strided_copy(out, x.data(), std::move(strides));
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  std::vector<int64_t> dims(x.shape().size());
  for (size_t d = 0; d < dims.size(); ++d) dims[d] = static_cast<int64_t>(d);
  std::swap(dims[normalize_dim("transpose", dim0, x.shape())],
            dims[normalize_dim("transpose", dim1, x.shape())]);
  return permute(x, dims);
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  const int64_t d = normalize_dim("slice", dim, x.shape());
  if (step < 1) fail("slice", "step must be >= 1, got " + std::to_string(step));
  // Python's rules: negative counts from the end, then clamp into [0, n].
  const int64_t n = x.shape()[d];
  auto clamp = [n](int64_t i) { return std::clamp(i < 0 ? i + n : i, int64_t{0}, n); };
  start = clamp(start);
  end = clamp(end);
  Shape out = x.shape();
  out[d] = end > start ? (end - start + step - 1) / step : 0;
  if (qkv::numel(out) == 0) return Tensor(out);
  Strides strides = contiguous_strides(x.shape());
  const float* first = x.data() + start * strides[d];
  strides[d] *= step;
  return strided_copy(out, first, std::move(strides));
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  const int64_t d = normalize_dim("narrow", dim, x.shape());
  if (start < 0 || length < 0 || start + length > x.shape()[d])
    fail("narrow", "start " + std::to_string(start) + " and length " + std::to_string(length) +
                       " leave dim " + std::to_string(dim) + " of shape " + to_string(x.shape()));
  return slice(x, d, start, start + length);
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  if (xs.empty()) fail("concat", "needs at least one tensor");
  const Shape& first = xs[0].shape();
  const int64_t d = normalize_dim("concat", dim, first);
  Shape out = first;
  out[d] = 0;
  for (const Tensor& x : xs) {
    Shape other = x.shape();
    if (other.size() == first.size()) other[d] = first[d];
    if (other != first)
      fail("concat", "shapes " + to_string(first) + " and " + to_string(x.shape()) + " differ outside dim " +
                         std::to_string(dim));
    out[d] += x.shape()[d];
  }
  // Per outer index, each input contributes one contiguous block of size(d) * inner, one after another.
  Tensor result = Tensor::empty(out);
  float* o = result.mutable_data();
  const Lanes l = lanes_along(out, d);
  for (int64_t outer = 0; outer < l.outer; ++outer) {
    for (const Tensor& x : xs) {
      const int64_t block = x.shape()[d] * l.inner;
      const float* src = x.data() + outer * block;
      o = std::copy(src, src + block, o);
    }
  }
  return result;
}

Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
  if (xs.empty()) fail("stack", "needs at least one tensor");
  for (const Tensor& x : xs)
    if (x.shape() != xs[0].shape())
      fail("stack", "shapes " + to_string(xs[0].shape()) + " and " + to_string(x.shape()) +
                        " differ (all must be equal)");
  // stack = give every input a size-1 dim at `dim`, then concatenate along it.
  const int64_t d = normalize_new_dim("stack", dim, xs[0].shape());
  std::vector<Tensor> parts;
  for (const Tensor& x : xs) parts.push_back(unsqueeze(x, d));
  return concat(parts, d);
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& indices) {
  const int64_t d = normalize_dim("index_select", dim, x.shape());
  const Lanes l = lanes_along(x.shape(), d);
  // x as [outer, n, inner] -> out as [outer, K, inner]; an embedding lookup is outer = 1, inner = D.
  const int64_t K = indices.numel();
  std::vector<int64_t> rows(K);
  for (int64_t k = 0; k < K; ++k) rows[k] = checked_index("index_select", indices.data()[k], l.n);
  Tensor out = Tensor::empty(gathered_shape(x.shape(), d, indices.shape()));
  float* o = out.mutable_data();
  const float* in = x.data();
  parallel_for(l.outer * K, grain_for_rows(l.inner), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* src = in + l.at(r / K, rows[r % K], 0);
      std::copy(src, src + l.inner, o + r * l.inner);
    }
  });
  return out;
}

Tensor index_add(const Shape& shape, int64_t dim, const Tensor& indices, const Tensor& src) {
  const int64_t d = normalize_dim("index_add", dim, shape);
  const Shape expected = gathered_shape(shape, d, indices.shape());
  if (src.shape() != expected)
    fail("index_add", "src of shape " + to_string(src.shape()) + " does not match " + to_string(expected) +
                          ", expected from shape " + to_string(shape) + " and indices " +
                          to_string(indices.shape()));
  const Lanes l = lanes_along(shape, d);
  const int64_t K = indices.numel();
  Tensor out(shape);
  float* o = out.mutable_data();
  // Serial on purpose: a repeated index adds into the same row, and one order keeps the sums reproducible.
  for (int64_t r = 0; r < l.outer * K; ++r) {
    const int64_t row = checked_index("index_add", indices.data()[r % K], l.n);
    const float* s = src.data() + r * l.inner;
    float* dst = o + l.at(r / K, row, 0);
    for (int64_t i = 0; i < l.inner; ++i) dst[i] += s[i];
  }
  return out;
}

}  // namespace qkv::kernels
