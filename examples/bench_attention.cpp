// bench_attention: forward + backward of one attention layer's core, softmax(Q K^T / sqrt(Dh)) V in every
// head (B = 1, H = 8, Dh = 64, causal and not), with qkv's flash kernel and its materialised kernel, for
// T = S = 256 .. 16,384: milliseconds and peak memory. examples/bench_attention_torch.py times the same
// in PyTorch. Leaves out the projections around the core, dropout and masks other than causal.
//   ./build/examples/bench_attention               a human table
//   ./build/examples/bench_attention --csv         rows of impl,causal,T,threads,ms,peak_mib
// Each measurement runs in a child process of its own (fork), so that its peak memory is its own: the
// growth of the peak resident set (VmHWM) over what the inputs already hold (reset first when Linux allows). Sizes whose score maps
// would not fit in --memory-gib are skipped for the materialised kernel, with a line saying so.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "autograd/ops.h"
#include "support/cli.h"
#include "tensor/parallel.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kHeads = 8, kHeadDim = 64;

// A field of /proc/self/status in MiB: VmRSS (resident now) or VmHWM (the peak so far), Linux only.
double status_mib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;
  return 0;
}

// Lets VmHWM restart from the resident set now (Linux: clear_refs 5); false where that is refused.
bool reset_peak() {
  std::ofstream clear("/proc/self/clear_refs");
  return static_cast<bool>(clear << "5" << std::flush);
}

struct Result {
  double ms = 0, peak_mib = 0;
};

// One forward + backward, best of a few runs (one run from T = 8,192: a run is seconds long there).
Result measure(qkv::kernels::AttentionKernel kernel, bool causal, int64_t T, int threads) {
  qkv::set_num_threads(threads);
  qkv::manual_seed(0);
  qkv::Tensor q = qkv::randn({1, T, kHeads * kHeadDim}).set_requires_grad();
  qkv::Tensor k = qkv::randn({1, T, kHeads * kHeadDim}).set_requires_grad();
  qkv::Tensor v = qkv::randn({1, T, kHeads * kHeadDim}).set_requires_grad();
  const qkv::Tensor w = qkv::randn({1, T, kHeads * kHeadDim});
  auto step = [&] {
    const qkv::Tensor out = qkv::multi_head_attention(q, k, v, kHeads, {.causal = causal, .kernel = kernel});
    qkv::sum(out * w).backward();
  };
  Result r;
  const double before = reset_peak() ? status_mib("VmRSS") : status_mib("VmHWM");
  const int runs = T >= 8192 ? 1 : T >= 2048 ? 3 : 5;
  r.ms = 1e30;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    step();
    r.ms = std::min(r.ms, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  r.peak_mib = status_mib("VmHWM") - before;
  return r;
}

// measure() in a child process; the parent never starts qkv's thread pool, so every child forks clean.
bool measure_in_child(qkv::kernels::AttentionKernel kernel, bool causal, int64_t T, int threads, Result& r) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    Result c;
    try {
      c = measure(kernel, causal, T, threads);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_attention: %s\n", e.what());
      _exit(1);
    }
    const ssize_t n = write(fds[1], &c, sizeof c);
    _exit(n == sizeof c ? 0 : 1);
  }
  close(fds[1]);
  const ssize_t n = pid > 0 ? read(fds[0], &r, sizeof r) : -1;
  close(fds[0]);
  int status = 0;
  if (pid > 0) waitpid(pid, &status, 0);
  return n == sizeof r && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

struct Row {
  std::string impl;
  bool causal;
  int64_t T;
  int threads;
  Result r;
};

}  // namespace

int main(int argc, char** argv) try {
  qkv::cli::Flags flags("bench_attention",
                        "Forward + backward of attention's core (B=1, H=8, Dh=64): flash and materialised.");
  flags.toggle("csv", "print rows impl,causal,T,threads,ms,peak_mib");
  const int all = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  flags.integer_option("threads", std::to_string(all), 1, 256, "threads for qkv's pool");
  flags.integer_option("min-T", "256", 1, 16384, "the shortest sequence (doubled up to --max-T)");
  flags.integer_option("max-T", "16384", 1, 16384, "the longest sequence");
  flags.integer_option("memory-gib", "4", 1, 1024,
                       "skip the materialised kernel where its score maps would take more than this");
  if (!flags.parse(argc, argv)) return 0;
  if (flags.integer("min-T") > flags.integer("max-T"))
    flags.refuse("--min-T " + std::to_string(flags.integer("min-T")) + " is above --max-T " +
                 std::to_string(flags.integer("max-T")));
  const bool csv = flags.on("csv");
  const int threads = static_cast<int>(flags.integer("threads"));
  const double budget_mib = 1024.0 * static_cast<double>(flags.integer("memory-gib"));
  std::vector<Row> rows;
  using qkv::kernels::AttentionKernel;
  for (int64_t T = flags.integer("min-T"); T <= flags.integer("max-T"); T *= 2)
    for (bool causal : {false, true})
      for (AttentionKernel kernel : {AttentionKernel::flash, AttentionKernel::materialised}) {
        const char* impl = kernel == AttentionKernel::flash ? "flash" : "materialised";
        // The materialised kernel keeps H maps of [T,S] floats (weights) and one more per thread (its
        // backward's d(weights)).
        const double maps_mib = double(kHeads + threads) * double(T) * double(T) * 4 / (1 << 20);
        if (kernel == AttentionKernel::materialised && maps_mib > budget_mib) {
          std::fprintf(stderr,
                       "bench_attention: materialised skipped at T=%lld: its maps take %.0f MiB > %.0f\n",
                       static_cast<long long>(T), maps_mib, budget_mib);
          continue;
        }
        Row row{impl, causal, T, threads, {}};
        if (!measure_in_child(kernel, causal, T, threads, row.r)) {
          std::fprintf(stderr, "bench_attention: %s at T=%lld failed\n", impl, static_cast<long long>(T));
          continue;
        }
        rows.push_back(row);
        if (!csv)
          std::printf("%-12s causal=%d T=%6lld threads=%d  %10.1f ms  %8.1f MiB\n", impl, causal ? 1 : 0,
                      static_cast<long long>(T), threads, row.r.ms, row.r.peak_mib);
        std::fflush(stdout);
      }
  if (csv) {
    std::printf("impl,causal,T,threads,ms,peak_mib\n");
    for (const Row& r : rows)
      std::printf("%s,%d,%lld,%d,%.2f,%.1f\n", r.impl.c_str(), r.causal ? 1 : 0, static_cast<long long>(r.T),
                  r.threads, r.r.ms, r.r.peak_mib);
  }
  return 0;
} catch (const std::exception& e) {
  return qkv::cli::report_error("bench_attention", e);
}
