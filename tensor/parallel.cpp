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
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tensor/error.h"
#include "tensor/simd/isa.h"

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
  ~ThreadPool() { stop_workers(); }

  // The first call sizes the pool with threads(); later ones return at once. If threads() throws (a
  // malformed QKV_NUM_THREADS), the pool stays unstarted and the next call throws again.
  template <class Threads>
  void start(Threads threads) {
    if (started_.load(std::memory_order_acquire)) return;
    std::lock_guard<std::mutex> lock(start_mu_);
    if (started_) return;
    resize(threads());
    started_.store(true, std::memory_order_release);
  }

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
  std::mutex start_mu_;
  std::atomic<bool> started_ = false;
};

int cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

// n, or max_threads() with one line on stderr naming who asked (`asked`) when n is more than that.
int capped(int64_t n, const std::string& asked) {
  if (n <= max_threads()) return static_cast<int>(n);
  std::cerr << "qkv: " << asked << ": capped at " << max_threads() << " threads (4 per core, " << cores()
            << " cores here); more would only slow the pool down\n";
  return max_threads();
}

ThreadPool& pool() {
  static ThreadPool p;
  return p;
}

}  // namespace

int max_threads() { return 4 * cores(); }

int threads_from_env(const char* value) {
  if (value == nullptr) return cores();
  const std::string text = value;
  int64_t n = 0;  // saturates: any count past max_threads() is capped alike
  for (const char c : text) {
    if (c < '0' || c > '9') n = -1;
    if (n < 0) break;
    n = std::min<int64_t>(n * 10 + (c - '0'), int64_t(1) << 40);
  }
  if (text.empty() || n < 1)
    throw Error("QKV_NUM_THREADS must be a whole number of threads >= 1, got " + quote(text));
  return capped(n, "QKV_NUM_THREADS=" + text);
}

void set_num_threads(int64_t n) {
  if (n < 1) fail("set_num_threads", "need at least 1 thread, got " + std::to_string(n));
  const int threads = capped(n, "set_num_threads(" + std::to_string(n) + ")");
  pool().start([&] { return threads; });  // a count set before first use: QKV_NUM_THREADS is not read
  if (threads != pool().size()) pool().resize(threads);
}

int get_num_threads() {
  pool().start([] { return threads_from_env(std::getenv("QKV_NUM_THREADS")); });
  return pool().size();
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = std::min<int64_t>(get_num_threads(), n / grain);
  if (chunks <= 1 || inside_parallel_region) return fn(0, n);
  // The kernels read the instruction set (QKV_ISA, at its first use) inside their chunks: it is settled here
  // first, so a malformed QKV_ISA throws on the calling thread, never in a worker (where it would abort).
  simd::active_isa();
  // Chunk c covers [c*n/chunks, (c+1)*n/chunks): contiguous, disjoint, within one element of each other.
  pool().run(static_cast<int>(chunks), [&](int c) { fn(c * n / chunks, (c + 1) * n / chunks); });
}

}  // namespace qkv
