// Strided reading: the one piece of index arithmetic behind broadcasting, broadcast_to, permute and slice.
// An input is read through strides laid over the output's shape (0 on a broadcast dim), so every one of
// those ops is "walk the output in row-major order, fetch each input at its offset". Internal to tensor/.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "tensor/loops/grain.h"
#include "tensor/parallel.h"
#include "tensor/tensor.h"

namespace qkv::kernels {

using Strides = std::vector<int64_t>;

// Strides for reading a tensor of shape `from` as if it had the (broadcast) shape `to`: aligned from the
// right, 0 where `from` has size 1 or no dim at all. Assumes `from` broadcasts to `to`.
inline Strides broadcast_strides(const Shape& from, const Shape& to) {
  const Strides own = contiguous_strides(from);
  Strides out(to.size(), 0);
  const size_t lead = to.size() - from.size();
  for (size_t d = 0; d < from.size(); ++d)
    if (from[d] != 1) out[lead + d] = own[d];
  return out;
}

// One input as the loop sees it: where its first element is and how to step along each output dim.
struct StridedInput {
  const float* data;
  Strides strides;  // one per output dim
};

// Walks `shape` in row-major order from linear index `start`, keeping one offset per input.
// next() is an odometer: bump the last dim; when it wraps, rewind it and carry into the dim before.
template <size_t N>
class StridedCursor {
 public:
  StridedCursor(const Shape& shape, const std::array<StridedInput, N>& in, int64_t start)
      : shape_(shape), in_(in), index_(shape.size(), 0) {
    offset_.fill(0);
    for (size_t d = shape.size(); d-- > 0;) {
      index_[d] = start % shape[d];
      start /= shape[d];
      for (size_t k = 0; k < N; ++k) offset_[k] += index_[d] * in[k].strides[d];
    }
  }
  const std::array<int64_t, N>& offsets() const { return offset_; }
  void next() {
    for (size_t d = shape_.size(); d-- > 0;) {
      for (size_t k = 0; k < N; ++k) offset_[k] += in_[k].strides[d];
      if (++index_[d] < shape_[d]) return;
      for (size_t k = 0; k < N; ++k) offset_[k] -= shape_[d] * in_[k].strides[d];
      index_[d] = 0;
    }
  }

 private:
  const Shape& shape_;
  const std::array<StridedInput, N>& in_;
  std::vector<int64_t> index_;
  std::array<int64_t, N> offset_;
};

// Merges neighbouring output dims that every input walks as one (stride[d] == stride[d+1] * size[d+1],
// which holds for two contiguous dims and for two stretched ones) and drops size-1 dims, so the loop
// below sees as few and as long rows as possible: same shapes become one row of n elements;
// [B,T,D] + [D] becomes [B*T, D] + [D] with strides {0, 1}; a permute keeps its moved dims apart.
template <size_t N>
void coalesce(Shape& shape, std::array<StridedInput, N>& in) {
  Shape merged;
  std::array<Strides, N> strides;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool joins = !merged.empty();
    for (size_t k = 0; k < N && joins; ++k) joins = strides[k].back() == in[k].strides[d] * shape[d];
    if (joins) {
      merged.back() *= shape[d];
      for (size_t k = 0; k < N; ++k) strides[k].back() = in[k].strides[d];
    } else {
      merged.push_back(shape[d]);
      for (size_t k = 0; k < N; ++k) strides[k].push_back(in[k].strides[d]);
    }
  }
  if (merged.empty()) {  // a single element
    merged.push_back(1);
    for (size_t k = 0; k < N; ++k) strides[k].push_back(0);
  }
  shape = std::move(merged);
  for (size_t k = 0; k < N; ++k) in[k].strides = std::move(strides[k]);
}

// o[j] = f(p_0[j * step_0], ..., p_N-1[j * step_N-1]) for j < len: one row. When every step is 1 (the
// usual case after coalescing) the loop reads straight through memory and the compiler vectorises it.
template <size_t N, class F, size_t... K>
inline void map_row(F& f, float* o, int64_t len, const std::array<const float*, N>& p,
                    const std::array<int64_t, N>& step, std::index_sequence<K...>) {
  if (((step[K] == 1) && ...)) {
    for (int64_t j = 0; j < len; ++j) o[j] = f(p[K][j]...);
  } else {
    for (int64_t j = 0; j < len; ++j) o[j] = f(p[K][j * step[K]]...);
  }
}

// out[i] = f(in_0[offset_0(i)], ..., in_N-1[offset_N-1(i)]) over a new contiguous tensor of out_shape,
// split across threads by output ranges (so any thread count gives the same bits). Each thread walks its
// range one row (last coalesced dim) at a time, with a cursor over the rows for the input offsets.
template <size_t N, class F>
Tensor map_strided(const Shape& out_shape, std::array<StridedInput, N> in, F f) {
  Tensor out = Tensor::empty(out_shape);
  float* o = out.mutable_data();
  Shape shape = out_shape;
  coalesce(shape, in);
  const int64_t width = shape.back();
  const Shape rows(shape.begin(), shape.end() - 1);
  std::array<int64_t, N> step;
  for (size_t k = 0; k < N; ++k) step[k] = in[k].strides.back();
  parallel_for(out.numel(), kElementwiseGrain, [&](int64_t begin, int64_t end) {
    StridedCursor<N> row(rows, in, begin / width);  // offsets of the row's first element
    for (int64_t i = begin; i < end; row.next()) {
      const int64_t j0 = i % width, len = std::min(width - j0, end - i);  // a range may start mid-row
      std::array<const float*, N> p;
      for (size_t k = 0; k < N; ++k) p[k] = in[k].data + row.offsets()[k] + j0 * step[k];
      map_row(f, o + i, len, p, step, std::make_index_sequence<N>{});
      i += len;
    }
  });
  return out;
}

// Reads x at out_shape through broadcasting: the StridedInput that map_strided wants.
inline StridedInput broadcast_input(const Tensor& x, const Shape& out_shape) {
  return {x.data(), broadcast_strides(x.shape(), out_shape)};
}

}  // namespace qkv::kernels
