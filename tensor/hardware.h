// What this machine runs and how fast it could: the instruction set qkv's kernels use and the measured
// fused multiply-add peak. Benchmarks report a fraction of that peak (bench_matmul's `peak` row,
// bench_train's MFU), so a learner sees how close to the hardware a product or a training step runs.
// Leaves out memory bandwidth and caches (a GEMM near peak is compute-bound; the rest of a step is not).
#pragma once

namespace qkv {

// "avx512", "avx2" or "portable": the path every SIMD kernel takes now (QKV_ISA, or the CPU's best); in a
// test build that emulates AVX-512 (CMake's QKV_EMULATE_AVX512), "avx512" says so.
const char* kernel_isa();

// The floating-point operations per second (in GFLOPS) that `threads` threads (1..get_num_threads()) reach
// with independent fused multiply-add chains on the active path and nothing else: the best of 30 ~2 ms
// samples, so a busy machine lowers it less than it lowers a benchmark. Takes about 0.1 s.
double fma_peak_gflops(int threads);

}  // namespace qkv
