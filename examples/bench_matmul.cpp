// bench_matmul: GFLOPS of qkv's GEMM on square n x n products, beside the naive loop, (when found at
// configure time) OpenBLAS, and the machine's measured FMA peak on qkv's path, each with 1 thread and with
// every thread. Leaves out non-square shapes.
//   ./build/examples/bench_matmul          a human table with ratios and the fraction of peak
//   ./build/examples/bench_matmul --csv    rows of impl,threads,n,gflops (impl peak: n is 0)
//   QKV_ISA=avx2 ./build/examples/bench_matmul    qkv on its AVX2 kernel (the peak row follows the path)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <thread>
#include <vector>

#include "support/cli.h"
#include "tensor/creation.h"
#include "tensor/gemm/gemm.h"
#include "tensor/hardware.h"
#include "tensor/parallel.h"

#if QKV_BENCH_OPENBLAS
#include <cblas.h>
#endif

namespace {

using Clock = std::chrono::steady_clock;

// Seconds per call of each contender: the best of many short samples. After a warm-up call, a sample
// repeats a call for ~4 ms, shorter than a time slice of the OS scheduler, so on a shared machine some
// samples run undisturbed; there are enough of them for ~0.2 s per contender (at least 5). Samples of
// the contenders alternate, so a burst of other work on the machine hits all of them alike.
std::vector<double> best_seconds(const std::vector<std::function<void()>>& calls) {
  std::vector<int> reps;
  int samples = 5;
  for (const auto& call : calls) {
    call();  // warm-up: page in buffers, wake threads, fill caches
    const auto t0 = Clock::now();
    call();
    const double once = std::chrono::duration<double>(Clock::now() - t0).count();
    reps.push_back(std::max(1, static_cast<int>(0.004 / std::max(once, 1e-9))));
    samples = std::max(samples, std::min(50, static_cast<int>(0.2 / std::max(once * reps.back(), 1e-9))));
  }
  std::vector<double> best(calls.size(), 1e30);
  for (int sample = 0; sample < samples; ++sample) {
    for (size_t c = 0; c < calls.size(); ++c) {
      const auto t0 = Clock::now();
      for (int r = 0; r < reps[c]; ++r) calls[c]();
      best[c] = std::min(best[c], std::chrono::duration<double>(Clock::now() - t0).count() / reps[c]);
    }
  }
  return best;
}

struct Row {
  const char* impl;
  int threads;
  int n;
  double gflops;
};

}  // namespace

int main(int argc, char** argv) try {
  qkv::cli::Flags flags("bench_matmul", "GFLOPS of square products: naive, qkv and (if found) OpenBLAS.");
  flags.toggle("csv", "print rows impl,threads,n,gflops");
  if (!flags.parse(argc, argv)) return 0;
  const bool csv = flags.on("csv");
  const int all_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<Row> rows;
  for (int threads : {1, all_threads}) {
    qkv::set_num_threads(threads);
    rows.push_back({"peak", threads, 0, qkv::fma_peak_gflops(threads)});
    if (all_threads == 1) break;
  }

  for (int n : {32, 64, 128, 256, 512, 1024}) {
    // A, B: [n, n] standard normal; C = A B. 2 n^3 flops per product.
    const qkv::Tensor a = qkv::randn({n, n}), b = qkv::randn({n, n});
    std::vector<float> c(static_cast<size_t>(n) * n);
    const double flops = 2.0 * n * n * n;
    const qkv::GemmArgs g{n, n, n, a.data(), n, false, b.data(), n, false, c.data(), n, false};
    auto gflops = [&](double seconds) { return flops / seconds / 1e9; };

    if (n <= 256) rows.push_back({"naive", 1, n, gflops(best_seconds({[&] { qkv::gemm_naive(g); }})[0])});
    for (int threads : {1, all_threads}) {
      qkv::set_num_threads(threads);
      std::vector<std::function<void()>> calls = {[&] { qkv::gemm(g); }};
#if QKV_BENCH_OPENBLAS
      openblas_set_num_threads(threads);
      calls.push_back([&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f,
                    c.data(), n);
      });
#endif
      const std::vector<double> seconds = best_seconds(calls);
      rows.push_back({"qkv", threads, n, gflops(seconds[0])});
      if (seconds.size() > 1) rows.push_back({"openblas", threads, n, gflops(seconds[1])});
      if (all_threads == 1) break;
    }
  }

  if (csv) {
    std::printf("impl,threads,n,gflops\n");
    for (const Row& r : rows) std::printf("%s,%d,%d,%.2f\n", r.impl, r.threads, r.n, r.gflops);
    return 0;
  }
  auto find = [&](const char* impl, int threads, int n) {
    for (const Row& r : rows)
      if (std::strcmp(r.impl, impl) == 0 && r.threads == threads && r.n == n) return r.gflops;
    return 0.0;
  };
  const double peak1 = find("peak", 1, 0), peak_all = find("peak", all_threads, 0);
  std::printf("GFLOPS of C = A B, square n x n, float32 (best of many ~4 ms samples; %d threads = all)\n",
              all_threads);
  std::printf("qkv kernels: %s; measured FMA peak on that path: %.1f GFLOPS with 1 thread, %.1f with %d\n",
              qkv::kernel_isa(), peak1, peak_all, all_threads);
  std::printf("%6s %8s | %8s %8s %6s %6s | %8s %8s %6s | %9s\n", "n", "naive", "qkv 1T", "oblas 1T", "ratio",
              "%peak", "qkv allT", "oblas aT", "ratio", "qkv aT/1T");
  for (int n : {32, 64, 128, 256, 512, 1024}) {
    const double q1 = find("qkv", 1, n), o1 = find("openblas", 1, n);
    const double qa = find("qkv", all_threads, n), oa = find("openblas", all_threads, n);
    std::printf("%6d %8.2f | %8.2f %8.2f %6.2f %6.1f | %8.2f %8.2f %6.2f | %9.2f\n", n, find("naive", 1, n), q1,
                o1, o1 > 0 ? q1 / o1 : 0.0, 100 * q1 / peak1, qa, oa, oa > 0 ? qa / oa : 0.0, qa / q1);
  }
  std::printf("ratio = qkv / OpenBLAS at the same thread count (0 when OpenBLAS was not found);\n"
              "%%peak = qkv 1T / the measured 1-thread FMA peak of qkv's path.\n");
#if QKV_BENCH_OPENBLAS
  // OpenBLAS picks its kernels from the CPU unless OPENBLAS_CORETYPE (e.g. Haswell: AVX2) says otherwise;
  // compare like with like: QKV_ISA=avx2 beside OPENBLAS_CORETYPE=Haswell, or neither variable set.
  std::printf("OpenBLAS kernels: %s\n", openblas_get_corename());
#endif
  return 0;
} catch (const std::exception& e) {
  return qkv::cli::report_error("bench_matmul", e);
}
