// The one place that asks the CPU what it can run and picks the instruction set of every SIMD kernel (the
// GEMM micro-kernel, vector math, dropout). One binary runs everywhere: only the *_avx2.cpp and *_avx512.cpp
// files are compiled for those sets, and they are called only when the CPU has them.
// QKV_ISA=avx512|avx2|portable in the environment forces a path (read once, at first use); asking for one
// the CPU cannot run is an error, never a silent fallback.
//   avx512    x86-64-v4: AVX-512 F, VL, BW and DQ (Intel since Skylake-SP and Ice Lake, AMD since Zen 4)
//   avx2      AVX2 and FMA (Intel since Haswell, AMD since Zen 1)
//   portable  plain C++ the compiler vectorises for the baseline target (SSE2, or NEON on ARM64)
// avx512 and avx2 give bitwise identical results (every element the same operations in the same order:
// tests/test_isa.cpp); portable differs in the last bits (no fused multiply-add, std::exp for the
// polynomials). A test build may emulate AVX-512 on an AVX2 CPU (CMake's QKV_EMULATE_AVX512: SIMDe's
// intrinsics) so that those checks run everywhere; there avx512 is "supported" wherever avx2 is.
// Leaves out: ARM's SVE, AMX.
#pragma once
#include <vector>

namespace qkv::simd {

enum class Isa { portable, avx2, avx512 };

const char* isa_name(Isa isa);      // "portable", "avx2", "avx512"
bool cpu_supports(Isa isa);         // this CPU, and this build (the x86 kernels exist only on x86-64)
std::vector<Isa> supported_isas();  // every path this machine can run, portable first
Isa active_isa();                   // what the kernels use: QKV_ISA if set, else the best supported
void set_isa(Isa isa);              // for tests and benchmarks; throws naming the path if unsupported
// Plain loops with no intrinsics (layer norm's, Adam's) are compiled twice: for the baseline and with
// gnu::target("avx2"), which leaves FMA out so that no multiply and add can be contracted into one
// rounding: the same bits, 8 lanes at a time. True where the AVX2 copy runs: the AVX2 and AVX-512 paths (a
// copy for AVX-512 was no faster for either, and its target brings FMA with it).
bool avx2_loops();

}  // namespace qkv::simd
