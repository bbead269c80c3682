// bench_generate: tokens per second generating 496 tokens after a 16-token prompt with a GPT of max_len 512
// (width 128, FFN 512, 4 blocks, 4 heads, V = 65, untrained), with the key/value cache (nn/kv_cache.h) and
// without it. Without the cache token t reruns the model over all t tokens so far; with it, over one.
// Greedy decoding, so both make the same tokens (checked: the program fails if they differ).
//   ./build/examples/bench_generate            a human table and the speed-up
//   ./build/examples/bench_generate --csv      rows of impl,cache,threads,tokens_per_s
// Best of --runs, the two ways interleaved, so a busy machine slows both alike.
// Leaves out: sampling's cost (a sort of V = 65 logits per token, next to nothing), batches above 1.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "nn/decode.h"
#include "support/cli.h"
#include "tensor/parallel.h"

using namespace qkv;
using namespace qkv::nn;

namespace {

using Clock = std::chrono::steady_clock;

TransformerConfig bench_config() {
  TransformerConfig c;
  c.vocab_size = 65;
  c.block = BlockConfig{128, 512, 4, 0.0f};  // GELU, pre-norm: GPT's own
  c.num_blks = 4;
  c.max_len = 512;
  return c;
}

struct Run {
  double seconds;
  Tensor tokens;  // [1, prompt + new]
};

Run generate_timed(GPT& model, const Tensor& prompt, int64_t new_tokens, bool use_cache) {
  const auto start = Clock::now();
  Tensor tokens =
      generate(model, prompt, SamplingConfig{.temperature = 0, .max_new_tokens = new_tokens}, use_cache);
  return {std::chrono::duration<double>(Clock::now() - start).count(), tokens};
}

}  // namespace

int main(int argc, char** argv) try {
  cli::Flags flags("bench_generate",
                   "Tokens per second of GPT generation with and without a key/value cache.");
  flags.integer_option("prompt", "16", 1, 511, "prompt tokens")
      .integer_option("new-tokens", "496", 1, 511, "tokens to generate (prompt + new - 1 <= max_len 512)")
      .integer_option("runs", "3", 1, 100, "runs of each way; the best counts")
      .integer_option("threads", "0", 0, 1024, "threads (0: 1 and every core)")
      .toggle("csv", "print rows of impl,cache,threads,tokens_per_s");
  cli::summary_toggle(flags);
  if (!flags.parse(argc, argv)) return 0;
  const int64_t P = flags.integer("prompt"), N = flags.integer("new-tokens");
  if (P + N - 1 > 512)
    flags.refuse("--prompt " + std::to_string(P) + " and --new-tokens " + std::to_string(N) + " need " +
                 std::to_string(P + N - 1) + " positions, past max_len 512");
  std::vector<int> thread_counts;
  if (flags.integer("threads") > 0) {
    thread_counts = {int(flags.integer("threads"))};
  } else {
    thread_counts = {1};
    const int all = int(std::max(1u, std::thread::hardware_concurrency()));
    if (all > 1) thread_counts.push_back(all);
  }

  manual_seed(0);
  GPT model(bench_config());
  if (cli::print_summary(flags, model)) return 0;
  model.eval();
  Tensor prompt = Tensor::empty({1, P});
  for (int64_t i = 0; i < P; ++i) prompt.mutable_data()[i] = float(default_generator().randint(0, 65));

  if (flags.on("csv"))
    std::printf("impl,cache,threads,tokens_per_s\n");
  else
    std::printf(
        "GPT: D=128, FFN 512, 4 blocks, 4 heads, max_len 512; %lld new tokens after %lld, best of %lld\n"
        "%-8s %7s %14s\n",
        (long long)N, (long long)P, (long long)flags.integer("runs"), "cache", "threads", "tokens/s");
  for (int threads : thread_counts) {
    set_num_threads(threads);
    double best[2] = {1e30, 1e30};  // without, with
    Tensor made[2];
    for (int64_t r = 0; r < flags.integer("runs"); ++r)
      for (bool use_cache : {true, false}) {
        const Run run = generate_timed(model, prompt, N, use_cache);
        best[use_cache] = std::min(best[use_cache], run.seconds);
        made[use_cache] = run.tokens;
      }
    if (made[0].to_vector() != made[1].to_vector()) {
      std::fprintf(stderr, "bench_generate: the cache changed the greedy tokens (%d threads)\n", threads);
      return 1;
    }
    for (bool use_cache : {false, true}) {
      const double tokens_per_s = double(N) / best[use_cache];
      if (flags.on("csv"))
        std::printf("qkv,%s,%d,%.1f\n", use_cache ? "yes" : "no", threads, tokens_per_s);
      else
        std::printf("%-8s %7d %14.1f\n", use_cache ? "yes" : "no", threads, tokens_per_s);
    }
    if (!flags.on("csv"))
      std::printf("the cache is %.1fx faster at %d thread(s)\n", best[0] / best[1], threads);
  }
  return 0;
} catch (const std::exception& e) {
  return cli::report_error("bench_generate", e);
}
