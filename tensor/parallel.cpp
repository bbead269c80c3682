// The thread pool behind parallel_for (see parallel.h): workers sleep on a condition variable; each job is
// cut into one chunk per thread, and the calling thread runs chunk 0 itself.
#include "tensor/parallel.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "tensor/error.h"

namespace qkv {
namespace {

thread_local bool inside_parallel_region = false;

class ThreadPool {
 public:
  explicit ThreadPool(int threads) { resize(threads); }
  ~ThreadPool() { stop_workers(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int threads) {
    stop_workers();
    stopping_ = false;
    // A new worker starts at the current job count, so it neither reruns an old job nor misses the next one.
    const uint64_t current = generation_;
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i, current] { work(i, current); });
  }

  // Runs job(chunk) for chunk in [0, chunks) with chunks <= size(); returns when all are done.
  void run(int chunks, const std::function<void(int)>& job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &job;
      chunks_ = chunks;
      pending_ = chunks - 1;
      ++generation_;
    }
    wake_.notify_all();
    inside_parallel_region = true;
    job(0);
    inside_parallel_region = false;
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
  }

 private:
  void work(int index, uint64_t seen) {
    inside_parallel_region = true;
    for (;;) {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      if (index >= chunks_) continue;
      const auto* job = job_;
      lock.unlock();
      (*job)(index);
      lock.lock();
      if (--pending_ == 0) done_.notify_one();
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(int)>* job_ = nullptr;
  int chunks_ = 0, pending_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
};

int default_threads() {
  if (const char* env = std::getenv("QKV_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

ThreadPool& pool() {
  static ThreadPool p(default_threads());
  return p;
}

}  // namespace

void set_num_threads(int n) {
  if (n < 1) fail("set_num_threads", "need at least 1 thread, got " + std::to_string(n));
  if (n != pool().size()) pool().resize(n);
}

int get_num_threads() { return pool().size(); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = std::min<int64_t>(get_num_threads(), n / grain);
  if (chunks <= 1 || inside_parallel_region) return fn(0, n);
  // Chunk c covers [c*n/chunks, (c+1)*n/chunks): contiguous, disjoint, within one element of each other.
  pool().run(static_cast<int>(chunks), [&](int c) { fn(c * n / chunks, (c + 1) * n / chunks); });
}

}  // namespace qkv
