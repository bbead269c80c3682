// Reductions (see reduce.h): sum, mean and max along one dim as an (outer, n, inner) loop, over
// everything, and sum_to/broadcast_to, the pair that undoes and materialises broadcasting.
// Sums accumulate in double in a fixed order: as cheap as float here, deterministic for any thread
// count (threads split the outputs, never a sum), and accurate to float rounding for any realistic n.
#include "tensor/reduce.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "tensor/loops/lanes.h"
#include "tensor/loops/strided.h"
#include "tensor/simd/vector_math.h"

namespace qkv::kernels {
namespace {

// Lanes are handled in blocks this wide so the accumulators live on the stack (8 KiB of doubles). Wide
// blocks matter for sums over rows (a bias gradient, [N, D] over N): a block reads a strip of every row,
// and strips of 64 columns, 256 bytes a row, are a strided walk the prefetchers follow poorly, where whole
// rows are one sequential walk ([2048, 512], 1 thread: 577 us with blocks of 64, 237 with 1024).
constexpr int64_t kBlock = 1024;

Shape reduced_shape(Shape shape, int64_t dim, bool keepdim) {
  if (keepdim)
    shape[dim] = 1;
  else
    shape.erase(shape.begin() + dim);
  return shape;
}

// Sum along dim, divided by n when `average` (mean).
Tensor sum_along(const char* op, const Tensor& x, int64_t dim, bool keepdim, bool average) {
  const int64_t d = normalize_dim(op, dim, x.shape());
  const Lanes l = lanes_along(x.shape(), d);
  if (average && l.n == 0)
    fail(op,
         "cannot average over dim " + std::to_string(dim) + " of size 0 in shape " + to_string(x.shape()));
  Tensor out = Tensor::empty(reduced_shape(x.shape(), d, keepdim));
  const float* in = x.data();
  float* o = out.mutable_data();
  for_each_lane_run(l, [&](int64_t outer, int64_t i_begin, int64_t i_end) {
    for (int64_t i0 = i_begin; i0 < i_end; i0 += kBlock) {
      const int64_t width = std::min(kBlock, i_end - i0);
      double acc[kBlock];  // only the `width` in use are zeroed: a sum along the last dim has width 1
      std::fill_n(acc, width, 0.0);
      for (int64_t j = 0; j < l.n; ++j)
        for (int64_t i = 0; i < width; ++i) acc[i] += in[l.at(outer, j, i0 + i)];
      for (int64_t i = 0; i < width; ++i)
        o[outer * l.inner + i0 + i] =
            static_cast<float>(average ? acc[i] / static_cast<double>(l.n) : acc[i]);
    }
  });
  return out;
}

void require_nonempty(const char* op, const Tensor& x) {
  if (x.numel() == 0) fail(op, "needs at least one element, got shape " + to_string(x.shape()));
}

// Throws unless `from` broadcasts to exactly `to`.
void check_broadcasts_to(const char* op, const Shape& from, const Shape& to) {
  if (broadcast_shapes(op, from, to) != to)
    fail(op, "shape " + to_string(from) + " does not broadcast to " + to_string(to));
}

// Every element added in order, serially: one fixed order, whatever the thread count.
double total(const Tensor& x) {
  double acc = 0;
  const float* in = x.data();
  for (int64_t i = 0; i < x.numel(); ++i) acc += in[i];
  return acc;
}

// NaN counts as the largest value, as in PyTorch, so it is never hidden by a max.
bool beats(float v, float best) { return v > best || (std::isnan(v) && !std::isnan(best)); }

}  // namespace

Tensor sum(const Tensor& x, int64_t dim, bool keepdim) { return sum_along("sum", x, dim, keepdim, false); }
Tensor mean(const Tensor& x, int64_t dim, bool keepdim) { return sum_along("mean", x, dim, keepdim, true); }

Tensor sum_all(const Tensor& x) { return Tensor(Shape{}, static_cast<float>(total(x))); }

double sum_of_squares(const Tensor& x) {
  const int64_t n = x.numel();
  return n > 0 ? vmath::sum_sq_dev(x.data(), 0.0, n) : 0.0;
}

Tensor mean_all(const Tensor& x) {
  require_nonempty("mean_all", x);
  return Tensor(Shape{}, static_cast<float>(total(x) / static_cast<double>(x.numel())));
}

MaxResult max(const Tensor& x, int64_t dim, bool keepdim) {
  const int64_t d = normalize_dim("max", dim, x.shape());
  const Lanes l = lanes_along(x.shape(), d);
  if (l.n == 0) fail("max", "dim " + std::to_string(dim) + " has size 0 in shape " + to_string(x.shape()));
  const Shape out_shape = reduced_shape(x.shape(), d, keepdim);
  MaxResult r{Tensor::empty(out_shape), Tensor::empty(out_shape)};
  const float* in = x.data();
  float* values = r.values.mutable_data();
  float* indices = r.indices.mutable_data();
  for_each_lane_run(l, [&](int64_t outer, int64_t i_begin, int64_t i_end) {
    for (int64_t i0 = i_begin; i0 < i_end; i0 += kBlock) {
      const int64_t width = std::min(kBlock, i_end - i0);
      float best[kBlock];
      int64_t arg[kBlock];
      std::fill_n(arg, width, int64_t{0});
      for (int64_t i = 0; i < width; ++i) best[i] = in[l.at(outer, 0, i0 + i)];
      for (int64_t j = 1; j < l.n; ++j)
        for (int64_t i = 0; i < width; ++i) {
          const float v = in[l.at(outer, j, i0 + i)];
          if (beats(v, best[i])) best[i] = v, arg[i] = j;  // strict: a tie keeps the lowest index
        }
      for (int64_t i = 0; i < width; ++i) {
        values[outer * l.inner + i0 + i] = best[i];
        indices[outer * l.inner + i0 + i] = static_cast<float>(arg[i]);
      }
    }
  });
  return r;
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) { return max(x, dim, keepdim).indices; }

Tensor max_all(const Tensor& x) {
  require_nonempty("max_all", x);
  const float* in = x.data();
  float best = in[0];
  for (int64_t i = 1; i < x.numel(); ++i)
    if (beats(in[i], best)) best = in[i];
  return Tensor(Shape{}, best);
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  check_broadcasts_to("sum_to", shape, x.shape());
  if (shape == x.shape()) return x;  // nothing was broadcast: the gradient passes through, shared
  // [B,T,D] -> [D]: first fold the leading dims that `shape` lacks into one and sum it away ...
  const size_t lead = x.shape().size() - shape.size();
  Tensor r = x;
  if (lead > 0) {
    Shape folded(x.shape().begin() + static_cast<int64_t>(lead) - 1, x.shape().end());
    for (size_t d = 0; d + 1 < lead; ++d) folded[0] *= x.shape()[d];
    r = sum(r.view(folded), 0);
  }
  // ... then sum, keeping the dim, where `shape` has 1 and x does not ([B,T,D] -> [B,1,D]).
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] == 1 && r.shape()[d] != 1) r = sum(r, static_cast<int64_t>(d), true);
  return r.view(shape);
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  check_broadcasts_to("broadcast_to", x.shape(), shape);
  return map_strided<1>(shape, {broadcast_input(x, shape)}, [](float v) { return v; });
}

}  // namespace qkv::kernels
