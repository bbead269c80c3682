// The one place that asks the CPU what it can run and picks the instruction set of every SIMD kernel (the
// GEMM micro-kernel, vector math). One binary runs everywhere: only the *_avx2.cpp files are compiled for
// AVX2+FMA, and they are called only when the CPU has both. QKV_ISA=avx2|portable in the environment forces
// a path (read once, at first use); asking for one the CPU cannot run is an error, never a silent fallback.
// Leaves out: AVX-512 and ARM's SVE (the portable path runs there, vectorised by the compiler for NEON).
#pragma once
#include <vector>

namespace qkv::simd {

enum class Isa { portable, avx2 };

const char* isa_name(Isa isa);      // "portable", "avx2"
bool cpu_supports(Isa isa);         // this CPU, and this build (the AVX2 kernels exist only on x86-64)
std::vector<Isa> supported_isas();  // every path this machine can run, portable first
Isa active_isa();                   // what the kernels use: QKV_ISA if set, else the best supported
void set_isa(Isa isa);              // for tests and benchmarks; throws naming the path if unsupported

}  // namespace qkv::simd
