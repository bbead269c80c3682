// A small thread pool over all cores, used by GEMM and large elementwise work.
// Threads: QKV_NUM_THREADS from the environment, else every core; set_num_threads() changes it.
// Work is split by output ranges, never along a reduction, so results are bitwise the same for any
// thread count.
#pragma once
#include <cstdint>
#include <functional>

namespace qkv {

// At most 4 threads per core (std::thread::hardware_concurrency), and at least 4. More threads only slow
// the pool down (each job waits for its slowest chunk, and threads sharing a core take turns: 1,000
// threads made a training step ~1000x slower) and never change a result, so a larger count is capped,
// with one line on stderr saying so, rather than refused: a script asking for 16 threads still runs on
// a 2-core laptop.
int max_threads();

// n >= 1, else qkv::Error; n > max_threads() is capped with a warning.
void set_num_threads(int64_t n);
// The pool starts on first use (this, or parallel_for) with threads_from_env(getenv("QKV_NUM_THREADS")),
// unless set_num_threads came first: a malformed QKV_NUM_THREADS throws qkv::Error there, every time, so
// a program never runs silently with some other count.
int get_num_threads();

// How QKV_NUM_THREADS is read: unset (null) means every core; otherwise it must be a whole number >= 1,
// digits only ("2.5", "", " 2" and "abc" throw, naming the value), capped as set_num_threads caps.
int threads_from_env(const char* value);

// Calls fn(begin, end) on disjoint chunks covering [0, n), in parallel when n >= 2 * grain.
// Chunks are at least `grain` long. A parallel_for inside another runs serially on the calling thread.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace qkv
