// A kernel's loops as a Job run over ranges split across threads, each range through one of two compiled
// copies of the loops: the baseline, or AVX2 without fused multiply-adds where simd::avx2_loops() says so
// (the AVX2 and AVX-512 paths). Neither copy can contract a multiply and an add, so both give the same bits.
// Used by layer norm and RMS norm (tensor/layer_norm.cpp, tensor/rms_norm.cpp). Internal to tensor/.
//
// A Job is a struct with int64_t fields `begin` and `end` (the range a thread runs), a field `kind` (one of
// Job::forward, Job::backward, Job::columns) and whatever its loops read. Its three loops, found by
// argument-dependent lookup in the Job's namespace, are forward_rows(job) and backward_rows(job) over rows
// [begin, end) and column_sums(job) over columns [begin, end) (the parameters' gradients, summed over every
// row); each must be [[gnu::always_inline]], so that each copy below gets its own compiled loops.
#pragma once
#include <cstdint>

#include "tensor/parallel.h"
#include "tensor/simd/isa.h"

namespace qkv::kernels {

template <class Job>
[[gnu::always_inline]] inline void run_loops(const Job& job) {
  switch (job.kind) {
    case Job::forward:
      return forward_rows(job);
    case Job::backward:
      return backward_rows(job);
    case Job::columns:
      return column_sums(job);
  }
}

template <class Job>
void run_job_baseline(const Job& job) {
  run_loops(job);
}
#if QKV_HAVE_X86_KERNELS
template <class Job>
[[gnu::target("avx2")]] void run_job_avx2(const Job& job) {
  run_loops(job);
}
#endif

template <class Job>
void run_job(const Job& job) {
#if QKV_HAVE_X86_KERNELS
  if (simd::avx2_loops()) return run_job_avx2(job);
#endif
  run_job_baseline(job);
}

// Runs `job` over [0, count) split across threads (chunks of at least `grain`): each thread its own copy of
// the job with its own range (never a shared mutable copy: two threads would write one range).
template <class Job>
void run_split(const Job& job, int64_t count, int64_t grain) {
  parallel_for(count, grain, [&job](int64_t begin, int64_t end) {
    Job part = job;
    part.begin = begin;
    part.end = end;
    run_job(part);
  });
}

}  // namespace qkv::kernels
