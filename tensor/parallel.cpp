// The thread pool behind parallel_for (see parallel.h): each job is cut into one chunk per thread, and the
// calling thread runs chunk 0 itself. Between jobs a worker first spins for a short while (kSpin) watching
// for the next one, then sleeps on a condition variable. A training step runs hundreds of small jobs back to
// back: waking a sleeping thread costs tens of microseconds, seeing a spinning one notice costs well under one.
#include "tensor/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "tensor/error.h"

namespace qkv {
namespace {

thread_local bool inside_parallel_region = false;

// How long a thread that ran out of work keeps checking for more before it sleeps. Long enough to span the
// gap between two kernels of a training step, short enough not to hold a core that another program wants.
constexpr auto kSpin = std::chrono::microseconds(200);

// Spins until done() or kSpin has passed; true if done() became true.
template <class Done>
bool spin_until(Done done) {
  const auto give_up = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0;; ++i) {
    if (done()) return true;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();  // tells the core this is a spin loop (saves power, frees the sibling thread)
#endif
    if (i % 64 == 63) {
      if (std::chrono::steady_clock::now() > give_up) return false;
      std::this_thread::yield();  // on a busy machine, lets the thread we wait for (or another program) run
    }
  }
}

class ThreadPool {
 public:
  explicit ThreadPool(int threads) { resize(threads); }
  ~ThreadPool() { stop_workers(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int threads) {
    stop_workers();
    stopping_ = false;
    // A new worker has seen every job so far: it must wait for the next one, not rerun the last.
    for (int i = 1; i < threads; ++i)
      workers_.emplace_back([this, i, seen = generation_.load()] { work(i, seen); });
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
    if (!spin_until([this] { return pending_.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock<std::mutex> lock(mu_);
      done_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
    }
  }

 private:
  void work(int index, uint64_t seen) {
    inside_parallel_region = true;
    for (;;) {
      auto new_job = [&] { return stopping_.load() || generation_.load(std::memory_order_acquire) != seen; };
      const bool spun = spin_until(new_job);
      // The job is read under the lock, all three fields from the same run(), even when this worker lags.
      std::unique_lock<std::mutex> lock(mu_);
      if (!spun) wake_.wait(lock, new_job);
      if (stopping_) return;
      seen = generation_;
      if (index >= chunks_) continue;
      const auto* job = job_;
      lock.unlock();
      (*job)(index);
      // The last one to finish tells run(); under the lock, so a run() about to sleep cannot miss it.
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mu_);
        done_.notify_one();
      }
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
  int chunks_ = 0;
  std::atomic<int> pending_ = 0;
  std::atomic<uint64_t> generation_ = 0;
  std::atomic<bool> stopping_ = false;
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
