// A tensor seen around one dim as (outer, n, inner): element (o, j, i) sits at (o * n + j) * inner + i.
// A "lane" is one (o, i): the n elements that a reduction or a softmax along that dim combines.
// Internal to tensor/ (reductions, softmax, concat, index_select).
#pragma once
#include <algorithm>
#include <cstdint>

#include "tensor/loops/grain.h"
#include "tensor/parallel.h"
#include "tensor/shape.h"

namespace qkv::kernels {

struct Lanes {
  int64_t outer = 1, n = 1, inner = 1;

  int64_t count() const { return outer * inner; }
  int64_t at(int64_t o, int64_t j, int64_t i) const { return (o * n + j) * inner + i; }
};

// dim must already be normalised (0 <= dim < rank).
inline Lanes lanes_along(const Shape& shape, int64_t dim) {
  Lanes l;
  for (int64_t d = 0; d < dim; ++d) l.outer *= shape[d];
  l.n = shape[dim];
  for (int64_t d = dim + 1; d < static_cast<int64_t>(shape.size()); ++d) l.inner *= shape[d];
  return l;
}

// Calls fn(o, i_begin, i_end) on runs of lanes that share o, split across threads by lanes (= outputs,
// so never along the reduced dim). Walking j outside and i inside reads memory in order even when
// inner > 1, e.g. summing [N,D] over N.
template <class F>
void for_each_lane_run(const Lanes& l, F fn) {
  parallel_for(l.count(), grain_for_rows(l.n), [&](int64_t begin, int64_t end) {
    for (int64_t lane = begin; lane < end;) {
      const int64_t o = lane / l.inner, i0 = lane % l.inner;
      const int64_t i1 = std::min(l.inner, i0 + (end - lane));
      fn(o, i0, i1);
      lane += i1 - i0;
    }
  });
}

}  // namespace qkv::kernels
