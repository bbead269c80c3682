// A small thread pool over all cores, used by GEMM and large elementwise work.
// Threads: QKV_NUM_THREADS from the environment, else every core; set_num_threads() changes it.
// Work is split by output ranges, never along a reduction, so results are bitwise the same for any
// thread count.
#pragma once
#include <cstdint>
#include <functional>

namespace qkv {

void set_num_threads(int n);  // n >= 1
int get_num_threads();

// Calls fn(begin, end) on disjoint chunks covering [0, n), in parallel when n >= 2 * grain.
// Chunks are at least `grain` long. A parallel_for inside another runs serially on the calling thread.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace qkv
