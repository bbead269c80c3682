// The portable FMA-peak loop and the choice of path (see fma_peak.h).
#include "tensor/simd/fma_peak.h"

#include "tensor/error.h"

namespace qkv::simd {

#if QKV_HAVE_X86_KERNELS
double fma_chains_avx2(int64_t steps);    // fma_peak_avx2.cpp
double fma_chains_avx512(int64_t steps);  // fma_peak_avx512.cpp
#endif

namespace {

double fma_chains_portable(int64_t steps) {
  constexpr int kChains = 12, kLanes = 4;
  float acc[kChains][kLanes];
  for (int i = 0; i < kChains; ++i)  // each chain starts elsewhere: identical chains would be one
    for (float& x : acc[i]) x = static_cast<float>(i);
  for (int64_t s = 0; s < steps; ++s)
    for (auto& chain : acc)
      for (float& x : chain) x = x * 0.999999f + 1e-7f;
  float total = 0;
  for (auto& chain : acc)
    for (float x : chain) total += x;
  volatile float sink = total;  // keeps every chain
  (void)sink;
  return 2.0 * kChains * kLanes * static_cast<double>(steps);
}

}  // namespace

double fma_chains(Isa isa, int64_t steps) {
  if (!cpu_supports(isa)) fail("fma_chains", std::string("this CPU (or build) cannot run ") + isa_name(isa));
#if QKV_HAVE_X86_KERNELS
  if (isa == Isa::avx512) return fma_chains_avx512(steps);
  if (isa == Isa::avx2) return fma_chains_avx2(steps);
#endif
  return fma_chains_portable(steps);
}

}  // namespace qkv::simd
