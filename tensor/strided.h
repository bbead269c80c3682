// Strided reading: the one piece of index arithmetic behind broadcasting, broadcast_to, permute and slice.
// An input is read through strides laid over the output's shape (0 on a broadcast dim), so every one of
// those ops is "walk the output in row-major order, fetch each input at its offset". Internal to tensor/.
#pragma once
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "tensor/grain.h"
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

// If an input is a contiguous block repeated along the leading dims (a full tensor, a trailing row such
// as the [D] bias of a [B,T,D] sum, or a scalar), its offset is simply i % period: return that period.
// Otherwise return 0 and the caller walks with a cursor.
inline int64_t repeat_period(const Shape& shape, const Strides& strides) {
  int64_t period = 1;
  bool in_repeat = false;  // true once we met a stretched dim: every dim before it must be stretched too
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] == 1) continue;
    if (strides[d] == 0) {
      in_repeat = true;
    } else if (in_repeat || strides[d] != period) {
      return 0;
    } else {
      period *= shape[d];
    }
  }
  return period;
}

template <size_t N, class F, size_t... K>
inline float call_at(F& f, const std::array<StridedInput, N>& in, const std::array<int64_t, N>& offset,
                     std::index_sequence<K...>) {
  return f(in[K].data[offset[K]]...);
}

// out[i] = f(in_0[offset_0(i)], ..., in_N-1[offset_N-1(i)]) over a new contiguous tensor of out_shape,
// split across threads by output ranges (so any thread count gives the same bits).
template <size_t N, class F>
Tensor map_strided(const Shape& out_shape, const std::array<StridedInput, N>& in, F f) {
  Tensor out = Tensor::empty(out_shape);
  float* o = out.mutable_data();
  const int64_t n = out.numel();
  std::array<int64_t, N> period;
  bool repeating = true, contiguous = true;
  for (size_t k = 0; k < N; ++k) {
    period[k] = repeat_period(out_shape, in[k].strides);
    repeating = repeating && period[k] > 0;
    contiguous = contiguous && period[k] == n;
  }
  const auto seq = std::make_index_sequence<N>{};
  parallel_for(n, kElementwiseGrain, [&](int64_t begin, int64_t end) {
    std::array<int64_t, N> offset;
    if (contiguous) {  // the common case: same shapes; a plain loop the compiler can vectorise
      for (int64_t i = begin; i < end; ++i) {
        offset.fill(i);
        o[i] = call_at(f, in, offset, seq);
      }
    } else if (repeating) {
      for (size_t k = 0; k < N; ++k) offset[k] = begin % period[k];
      for (int64_t i = begin; i < end; ++i) {
        o[i] = call_at(f, in, offset, seq);
        for (size_t k = 0; k < N; ++k)
          if (++offset[k] == period[k]) offset[k] = 0;
      }
    } else {
      StridedCursor<N> cursor(out_shape, in, begin);
      for (int64_t i = begin; i < end; ++i, cursor.next()) o[i] = call_at(f, in, cursor.offsets(), seq);
    }
  });
  return out;
}

// Reads x at out_shape through broadcasting: the StridedInput that map_strided wants.
inline StridedInput broadcast_input(const Tensor& x, const Shape& out_shape) {
  return {x.data(), broadcast_strides(x.shape(), out_shape)};
}

}  // namespace qkv::kernels
