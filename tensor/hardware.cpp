// The active instruction set and the measured FMA peak (see hardware.h).
#include "tensor/hardware.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "tensor/error.h"
#include "tensor/parallel.h"
#include "tensor/simd/fma_peak.h"
#include "tensor/simd/isa.h"

namespace qkv {

const char* kernel_isa() {
#if QKV_EMULATED_AVX512
  if (simd::active_isa() == simd::Isa::avx512)
    return "avx512 (emulated on AVX2 by SIMDe: timings mean nothing)";
#endif
  return simd::isa_name(simd::active_isa());
}

double fma_peak_gflops(int threads) {
  if (threads < 1 || threads > get_num_threads())
    fail("fma_peak_gflops", "threads must be in [1, " + std::to_string(get_num_threads()) + "], got " +
                                std::to_string(threads));
  const simd::Isa isa = simd::active_isa();
  // 16 zmm chains x 1M steps: 16M FMAs, about 2 ms per thread at 2 FMAs per cycle. Long enough that a
  // worker thread which starts its chunk late (woken from sleep) costs little of a sample.
  constexpr int64_t kSteps = 1'000'000;
  double best = 0;
  for (int sample = 0; sample < 30; ++sample) {
    const auto t0 = std::chrono::steady_clock::now();
    double flops = 0;
    if (threads == 1) {
      flops = simd::fma_chains(isa, kSteps);
    } else {
      // One chunk per thread (grain 1), each the same loop; the flops add up.
      std::vector<double> done(threads, 0.0);
      parallel_for(threads, 1, [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) done[t] = simd::fma_chains(isa, kSteps);
      });
      for (double d : done) flops += d;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, flops / seconds / 1e9);
  }
  return best;
}

}  // namespace qkv
