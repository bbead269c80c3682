// Inverted dropout and its mask (see dropout.h).
#include "tensor/dropout.h"

#include <algorithm>
#include <cmath>

#include "tensor/checks.h"
#include "tensor/loops/grain.h"
#include "tensor/parallel.h"
#include "tensor/simd/isa.h"

namespace qkv::kernels {
namespace {

void check_dropout_p(const char* op, float p) { check::fraction(op, "p", p); }

// p < 1 is at most 1 - 2^-24, so the threshold is at most 2^32 - 256 and fits
uint32_t drop_threshold(float p) {
  return static_cast<uint32_t>(std::ceil(static_cast<double>(p) * 4294967296.0));
}

// Inverted dropout over the entries [begin, end) of x: out = x * factor, factor 0 (dropped) or keep_scale
// (kept). Entry i takes stream.bits32(i) as a 32-bit uniform u / 2^32 and is dropped when that is below p,
// i.e. when u < threshold = ceil(p 2^32): probability p to within 2^-32. Compared as integers, no float
// is built, and entry i's draw is the same whichever thread makes it.
// x and out point at entry `begin` (x[0] is entry begin's value); out may be x.
[[gnu::always_inline]] inline void dropout_loop(const float* x, float* out, int64_t begin, int64_t end,
                                                CounterStream stream, uint32_t threshold, float keep_scale) {
  // Segments of at most 4G entries share the high half of i, so bits32's key is taken once per segment;
  // the loop over a segment has only 32-bit arithmetic and a select, which the compiler vectorises.
  constexpr int64_t kSegment = int64_t{1} << 32;
  for (int64_t first = begin; first < end;) {
    const int64_t last = std::min(end, (first / kSegment + 1) * kSegment);
    const uint32_t key = stream.key32(static_cast<uint64_t>(first / kSegment));
    const float* xs = x + (first - begin);
    float* outs = out + (first - begin);
    for (int64_t j = 0; j < last - first; ++j) {  // x * factor, not a select of 0 or x * scale: NaN, inf kept
      const uint32_t u = CounterStream::bits32_in(key, static_cast<uint32_t>(first + j));
      outs[j] = xs[j] * (u >= threshold ? keep_scale : 0.0f);
    }
    first = last;
  }
}

// The loop compiled for each instruction set, picked by simd::active_isa() (tensor/simd/isa.h): the
// compiler vectorises it 4, 8 or 16 draws per instruction. Integer arithmetic and one multiply per entry:
// the same bits on every path.
void dropout_portable(const float* x, float* out, int64_t begin, int64_t end, CounterStream stream,
                      uint32_t threshold, float keep_scale) {
  dropout_loop(x, out, begin, end, stream, threshold, keep_scale);
}
#if QKV_HAVE_X86_KERNELS
[[gnu::target("avx2")]] void dropout_avx2(const float* x, float* out, int64_t begin, int64_t end,
                                          CounterStream stream, uint32_t threshold, float keep_scale) {
  dropout_loop(x, out, begin, end, stream, threshold, keep_scale);
}
[[gnu::target("avx512f,avx512vl,avx512bw,avx512dq")]] void dropout_avx512(
    const float* x, float* out, int64_t begin, int64_t end, CounterStream stream, uint32_t threshold,
    float keep_scale) {
  dropout_loop(x, out, begin, end, stream, threshold, keep_scale);
}
#endif

#if QKV_EMULATED_AVX512
constexpr bool kEmulatedAvx512 = true;
#else
constexpr bool kEmulatedAvx512 = false;
#endif
using DropoutRange = void (*)(const float*, float*, int64_t, int64_t, CounterStream, uint32_t, float);
DropoutRange dropout_range() {
  [[maybe_unused]] const simd::Isa isa = simd::active_isa();
#if QKV_HAVE_X86_KERNELS
  // A test build that emulates AVX-512 (CMake's QKV_EMULATE_AVX512) cannot run this compiler-vectorised
  // copy, which has no intrinsics to emulate: the AVX2 copy of the same loop stands in.
  if (isa == simd::Isa::avx512) return kEmulatedAvx512 ? dropout_avx2 : dropout_avx512;
  if (isa == simd::Isa::avx2) return dropout_avx2;
#endif
  return dropout_portable;
}

}  // namespace

Tensor dropout_mask(const Shape& shape, float p, CounterStream stream) {
  check_dropout_p("dropout_mask", p);
  return dropout(Tensor(shape, 1.0f), p, stream);  // 1 * mask
}

Tensor dropout_mask(const Shape& shape, float p, Generator& gen) {
  return dropout_mask(shape, p, gen.split());
}

Tensor dropout(const Tensor& x, float p, CounterStream stream) {
  // x [*] -> y [*], y = x * mask
  check_dropout_p("dropout", p);
  const uint32_t threshold = drop_threshold(p);
  const float keep_scale = 1 / (1 - p);  // kept entries scaled so that E[mask] = 1: eval needs no rescaling
  Tensor y = Tensor::empty(x.shape());
  const float* in = x.data();
  float* out = y.mutable_data();
  const int64_t n = x.numel();
  const DropoutRange range = dropout_range();
  parallel_for(n, kElementwiseGrain, [=](int64_t begin, int64_t end) {
    range(in + begin, out + begin, begin, end, stream, threshold, keep_scale);
  });
  return y;
}

void dropout_entries(const float* x, float* out, int64_t first, int64_t n, float p, CounterStream stream) {
  check_dropout_p("dropout_entries", p);
  dropout_range()(x, out, first, first + n, stream, drop_threshold(p), 1 / (1 - p));
}

}  // namespace qkv::kernels
