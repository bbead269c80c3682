// The machine's fused multiply-add peak, measured: a loop of independent FMA chains with no loads, the most
// floating-point work a core can do per second on a path. Benchmarks (bench_matmul's `peak` row,
// bench_train's MFU) divide by it, so a fraction of peak is read off one run on one machine.
// Leaves out the timing itself (the benchmarks time fma_chains and divide).
#pragma once
#include <cstdint>

#include "tensor/simd/isa.h"

namespace qkv::simd {

// Runs `steps` steps of independent FMA chains on path `isa` (which the CPU must support) and returns the
// floating-point operations done (2 per lane per FMA). AVX-512: 16 zmm chains; AVX2: 12 ymm chains (enough
// to cover 2 FMA units x 4 cycles of latency, with slack); portable: 12 chains of 4 floats, multiply and
// add (the baseline x86-64 has no FMA).
double fma_chains(Isa isa, int64_t steps);

}  // namespace qkv::simd
