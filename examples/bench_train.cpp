// bench_train: milliseconds per training step (make batch, forward, cross-entropy, zero_grad, backward,
// Adam step) for the configurations of its PyTorch twin (examples/torch_train_step.py),
// with the same sizes, so the two can be run back to back and compared:
//   reverse  EncoderDecoder, post-norm: V=13, S=12 (valid lengths 4..12), D=64, H=4, FFN 128, 2+2 blocks,
//            dropout 0.1, batch 64, Adam lr 1e-3, the loss ignores pad. Trained as train_reverse trains
//            it, on ragged batches (nn/ragged.h): the padding is never computed, the loss is the same.
//   reverse_padded  the same step on the padded batch, as the reference computes it (masks, then pad
//            targets ignored): a third more work for the same loss
//   gpt      GPT, pre-norm, GELU, learned positions: V=65, T=64, D=128, H=4, FFN 512, 4 blocks,
//            dropout 0.1, batch 32, Adam lr 1e-3, random tokens
//   ./build/examples/bench_train               a table: each config at 1 thread and at every thread
//   ./build/examples/bench_train --csv         rows of impl,config,threads,ms_per_step (as the reference)
//   --threads N (only that count), --steps N (timed steps of reverse; gpt times half, at least 10),
//   --config reverse|reverse_padded|gpt (only that one, e.g. to profile it)
#include <chrono>
#include <cstdio>
#include <functional>
#include <thread>
#include <vector>

#include "nn/models.h"
#include "nn/optim.h"
#include "support/cli.h"
#include "support/toy_data.h"
#include "tensor/parallel.h"

using namespace qkv;
using namespace qkv::nn;

namespace {

constexpr int kWarmup = 5;

// Seconds per call of `step`, averaged over `steps` calls after kWarmup untimed ones.
double seconds_per_step(const std::function<void()>& step, int64_t steps) {
  for (int i = 0; i < kWarmup; ++i) step();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) step();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / double(steps);
}

// One training step of any model: loss from a fresh batch, then zero_grad, backward and the update.
void train_step(Optimizer& opt, const std::function<Tensor()>& loss_on_new_batch) {
  const Tensor loss = loss_on_new_batch();
  opt.zero_grad();
  loss.backward();
  opt.step();
}

double bench_reverse(int64_t steps, bool padded) {
  using toy::ReverseTask;
  TransformerConfig c;
  c.vocab_size = ReverseTask::vocab;
  c.block = BlockConfig{64, 128, 4, 0.1f, /*bias=*/true, /*norm_first=*/false, Activation::relu};
  c.num_blks = 2;
  c.max_len = 64;
  EncoderDecoder model(c);
  Adam opt(model.named_parameters(), 1e-3f);
  const ReverseTask task(/*held_out_count=*/1);
  return seconds_per_step(
      [&] {
        train_step(opt, [&] {
          const toy::ReverseBatch b = task.train_batch(64);
          if (padded) {  // the same work as the reference: padding computed, then masked and ignored
            const Tensor logits = model.forward(b.src, b.src_valid_lens, b.tgt_in);  // [B,T,V]
            return cross_entropy(reshape(logits, {-1, ReverseTask::vocab}), reshape(b.tgt, {-1}),
                                 ReverseTask::pad);
          }
          const toy::RaggedReverseBatch r = toy::ragged(b);  // only the real tokens: the same loss
          return cross_entropy(model.forward(r.src, r.tgt_in), r.tgt, ReverseTask::pad);  // [N,V]
        });
      },
      steps);
}

// Token ids uniform in [0, V), as integer-valued floats.
Tensor random_tokens(const Shape& shape, int64_t V) {
  Tensor ids(shape);
  float* p = ids.mutable_data();
  for (int64_t i = 0; i < ids.numel(); ++i) p[i] = float(default_generator().randint(0, V));
  return ids;
}

double bench_gpt(int64_t steps) {
  constexpr int64_t V = 65, T = 64, B = 32;
  TransformerConfig c;
  c.vocab_size = V;
  c.block = BlockConfig{128, 512, 4, 0.1f, true, /*norm_first=*/true, Activation::gelu};
  c.num_blks = 4;
  c.max_len = T;
  GPT model(c);
  Adam opt(model.named_parameters(), 1e-3f);
  return seconds_per_step(
      [&] {
        train_step(opt, [&] {
          // inputs and targets uniform in [0, V), as the reference's random tokens
          const Tensor ids = random_tokens({B, T}, V), targets = random_tokens({B, T}, V);
          return cross_entropy(reshape(model.forward(ids), {-1, V}), reshape(targets, {-1}));
        });
      },
      steps);
}

struct Row {
  const char* config;
  int threads;
  double ms;
};

}  // namespace

int main(int argc, char** argv) try {
  cli::Flags flags("bench_train", "Milliseconds per training step, comparable with the PyTorch reference.");
  flags.integer_option("threads", "0", 0, 1024, "only this many threads (0: 1 and every core)")
      .integer_option("steps", "50", 1, 100'000, "timed steps for reverse (gpt: half, at least 10)")
      .choice_option("config", "all", {"all", "reverse", "reverse_padded", "gpt"}, "configurations to time")
      .toggle("csv", "print rows impl,config,threads,ms_per_step");
  if (!flags.parse(argc, argv)) return 0;
  const int all = int(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<int> counts{int(flags.integer("threads"))};
  if (counts[0] == 0) counts = all > 1 ? std::vector<int>{1, all} : std::vector<int>{1};
  const int64_t steps = flags.integer("steps");

  std::vector<Row> rows;
  for (int threads : counts) {
    set_num_threads(threads);
    manual_seed(0);
    const std::string config = flags.str("config");
    if (config == "all" || config == "reverse")
      rows.push_back({"reverse", threads, 1e3 * bench_reverse(steps, /*padded=*/false)});
    if (config == "all" || config == "reverse_padded")
      rows.push_back({"reverse_padded", threads, 1e3 * bench_reverse(steps, /*padded=*/true)});
    if (config == "all" || config == "gpt")
      rows.push_back({"gpt", threads, 1e3 * bench_gpt(std::max<int64_t>(10, steps / 2))});
  }

  if (flags.on("csv")) {
    for (const Row& r : rows) std::printf("qkv,%s,%d,%.3f\n", r.config, r.threads, r.ms);
    return 0;
  }
  std::printf("%-14s %8s %12s\n", "config", "threads", "ms/step");
  for (const Row& r : rows) std::printf("%-14s %8d %12.2f\n", r.config, r.threads, r.ms);
  std::printf("Compare: /usr/bin/python3 examples/torch_train_step.py --threads N\n");
  return 0;
} catch (const std::exception& e) {
  return cli::report_error("bench_train", e);
}
