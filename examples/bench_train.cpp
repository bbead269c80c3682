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
//   The table also gives each configuration's model FLOPs per step (counted from the shapes, as nanoGPT's
//   estimate_mfu does: 6 per parameter and token, plus the attention maps) and MFU, the achieved FLOPS as a
//   fraction of the machine's measured FMA peak at that thread count (tensor/hardware.h).
//   --profile  also a table of each op's forward and backward time over the timed steps
//              (autograd/profiler.h); --summary prints each model's modules instead of timing
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

#include "autograd/profiler.h"
#include "nn/models.h"
#include "nn/optim.h"
#include "nn/summary.h"
#include "support/cli.h"
#include "support/toy_data.h"
#include "tensor/hardware.h"
#include "tensor/parallel.h"

using namespace qkv;
using namespace qkv::nn;

namespace {

constexpr int kWarmup = 5;

// Model FLOPs of one training step, counted from the shapes: every weight matrix does one multiply-add per
// input row in the forward and two in the backward (the gradients of its input and of itself), so 6 FLOPs
// per weight and token; the attention maps (Q K^T and weights V) likewise 6 x 2 T S Dh per head. Norms,
// softmax, the loss and the optimizer are left out (a few percent), as nanoGPT's estimate_mfu leaves them.
struct StepFlops {
  double macs = 0;  // forward multiply-adds summed over the timed steps
  int64_t steps = 0;
  double per_step() const { return steps ? 6 * macs / double(steps) : 0; }
};
StepFlops step_flops;

// Forward multiply-adds of one attention map of T queries over S keys, width D (all heads together).
double attention_macs(double T, double S, double D) { return 2 * T * S * D; }

bool profile_ops = false;  // --profile
const char* profile_label = "";

// Seconds per call of `step`, averaged over `steps` calls after kWarmup untimed ones.
double seconds_per_step(const std::function<void()>& step, int64_t steps) {
  for (int i = 0; i < kWarmup; ++i) step();
  std::optional<profiler::Profile> profile;
  if (profile_ops) profile.emplace();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) step();
  if (profile)
    std::printf("%s, %d thread(s), ops of %lld steps:\n%s\n", profile_label, get_num_threads(), (long long)steps,
                profile->table(steps).c_str());
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / double(steps);
}

// One training step of any model: loss from a fresh batch, then zero_grad, backward and the update.
void train_step(Optimizer& opt, const std::function<Tensor()>& loss_on_new_batch) {
  const Tensor loss = loss_on_new_batch();
  opt.zero_grad();
  loss.backward();
  opt.step();
  profiler::mark();  // with --profile: the update is not the next step's first op
}

TransformerConfig reverse_config() {
  TransformerConfig c;
  c.vocab_size = toy::ReverseTask::vocab;
  c.block = BlockConfig{64, 128, 4, 0.1f, /*bias=*/true, /*norm_first=*/false, Activation::relu};
  c.num_blks = 2;
  c.max_len = 64;
  return c;
}

// Forward multiply-adds of the encoder-decoder on sources of lengths S[b] and targets of lengths T[b]: per
// layer, encoder tokens go through Q, K, V, O (4 D^2) and the FFN (2 D F); decoder tokens through self- and
// cross-attention's Q and O and self-attention's K, V (6 D^2) and the FFN; cross-attention's K, V read the
// encoder's tokens (2 D^2 each); then the output layer (D V per target token).
double reverse_macs(const TransformerConfig& c, const std::vector<int64_t>& S, const std::vector<int64_t>& T) {
  const double D = double(c.block.num_hiddens), F = double(c.block.ffn_num_hiddens), L = double(c.num_blks);
  double macs = 0;
  for (size_t b = 0; b < S.size(); ++b) {
    const double s = double(S[b]), t = double(T[b]);
    macs += L * (s * (4 * D * D + 2 * D * F) + attention_macs(s, s, D));                      // encoder
    macs += L * (t * (6 * D * D + 2 * D * F) + s * 2 * D * D + attention_macs(t, t, D) +   // decoder
                 attention_macs(t, s, D));
    macs += t * D * double(c.vocab_size);
  }
  return macs;
}

double bench_reverse(int64_t steps, bool padded) {
  using toy::ReverseTask;
  profile_label = padded ? "reverse_padded" : "reverse";
  EncoderDecoder model(reverse_config());
  Adam opt(model.named_parameters(), 1e-3f);
  const ReverseTask task(/*held_out_count=*/1);
  return seconds_per_step(
      [&] {
        train_step(opt, [&] {
          const toy::ReverseBatch b = task.train_batch(64);
          if (padded) {  // the same work as the reference: padding computed, then masked and ignored
            const int64_t n = b.src.shape()[0];
            step_flops.macs += reverse_macs(reverse_config(), std::vector<int64_t>(n, b.src.shape()[1]),
                                            std::vector<int64_t>(n, b.tgt_in.shape()[1]));
            ++step_flops.steps;
            const Tensor logits = model.forward(b.src, b.src_valid_lens, b.tgt_in);  // [B,T,V]
            return cross_entropy(reshape(logits, {-1, ReverseTask::vocab}), reshape(b.tgt, {-1}),
                                 ReverseTask::pad);
          }
          const toy::RaggedReverseBatch r = toy::ragged(b);  // only the real tokens: the same loss
          std::vector<int64_t> S, T;
          for (int64_t i = 0; i < r.src.batch_size(); ++i) {
            S.push_back(r.src.length(i));
            T.push_back(r.tgt_in.length(i));
          }
          step_flops.macs += reverse_macs(reverse_config(), S, T);
          ++step_flops.steps;
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

constexpr int64_t V = 65, T = 64, B = 32;  // the gpt configuration's vocabulary, context, batch

TransformerConfig gpt_config() {
  TransformerConfig c;
  c.vocab_size = V;
  c.block = BlockConfig{128, 512, 4, 0.1f, true, /*norm_first=*/true, Activation::gelu};
  c.num_blks = 4;
  c.max_len = T;
  return c;
}

// Forward multiply-adds of the GPT on B sequences of T tokens: per layer and token Q, K, V, O (4 D^2) and
// the FFN (2 D F), the causal attention map counted whole as nanoGPT counts it, then the output layer.
double gpt_macs(const TransformerConfig& c) {
  const double D = double(c.block.num_hiddens), F = double(c.block.ffn_num_hiddens), L = double(c.num_blks);
  const double tokens = double(B * T);
  return tokens * (L * (4 * D * D + 2 * D * F) + D * double(c.vocab_size)) +
         double(B) * L * attention_macs(double(T), double(T), D);
}

double bench_gpt(int64_t steps) {
  profile_label = "gpt";
  GPT model(gpt_config());
  Adam opt(model.named_parameters(), 1e-3f);
  return seconds_per_step(
      [&] {
        train_step(opt, [&] {
          // inputs and targets uniform in [0, V), as the reference's random tokens
          const Tensor ids = random_tokens({B, T}, V), targets = random_tokens({B, T}, V);
          step_flops.macs += gpt_macs(gpt_config());
          ++step_flops.steps;
          return cross_entropy(reshape(model.forward(ids), {-1, V}), reshape(targets, {-1}));
        });
      },
      steps);
}

struct Row {
  const char* config;
  int threads;
  double ms;
  double gflop_per_step;
};

// Times one configuration and counts its model FLOPs over the same steps (warm-up included: the same
// batches' distribution).
Row timed(const char* config, int threads, const std::function<double()>& bench) {
  step_flops = {};
  const double seconds = bench();
  return {config, threads, 1e3 * seconds, step_flops.per_step() / 1e9};
}

}  // namespace

int main(int argc, char** argv) try {
  cli::Flags flags("bench_train", "Milliseconds per training step, comparable with the PyTorch reference.");
  flags.integer_option("threads", "0", 0, 1024, "only this many threads (0: 1 and every core)")
      .integer_option("steps", "50", 1, 100'000, "timed steps for reverse (gpt: half, at least 10)")
      .choice_option("config", "all", {"all", "reverse", "reverse_padded", "gpt"}, "configurations to time")
      .toggle("csv", "print rows impl,config,threads,ms_per_step")
      .toggle("profile", "also print each op's forward and backward time over the timed steps");
  cli::summary_toggle(flags);
  if (!flags.parse(argc, argv)) return 0;
  profile_ops = flags.on("profile");
  if (flags.on("summary")) {
    std::printf("reverse:\n%s\ngpt:\n%s", summary(EncoderDecoder(reverse_config())).c_str(),
                summary(GPT(gpt_config())).c_str());
    return 0;
  }
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
      rows.push_back(timed("reverse", threads, [&] { return bench_reverse(steps, /*padded=*/false); }));
    if (config == "all" || config == "reverse_padded")
      rows.push_back(timed("reverse_padded", threads, [&] { return bench_reverse(steps, /*padded=*/true); }));
    if (config == "all" || config == "gpt")
      rows.push_back(timed("gpt", threads, [&] { return bench_gpt(std::max<int64_t>(10, steps / 2)); }));
  }

  if (flags.on("csv")) {
    for (const Row& r : rows) std::printf("qkv,%s,%d,%.3f\n", r.config, r.threads, r.ms);
    return 0;
  }
  std::vector<double> peak(size_t(all) + 1, 0.0);  // measured after timing, at each thread count used
  for (int threads : counts) {
    set_num_threads(threads);
    peak[size_t(threads)] = fma_peak_gflops(threads);
  }
  std::printf("kernels: %s; measured FMA peak:", kernel_isa());
  for (int threads : counts) std::printf(" %.0f GFLOPS at %d thread(s);", peak[size_t(threads)], threads);
  std::printf("\n%-14s %8s %12s %12s %10s %8s\n", "config", "threads", "ms/step", "GFLOP/step", "GFLOPS", "MFU");
  for (const Row& r : rows) {
    const double gflops = r.gflop_per_step / (r.ms / 1e3);
    std::printf("%-14s %8d %12.2f %12.3f %10.1f %7.1f%%\n", r.config, r.threads, r.ms, r.gflop_per_step, gflops,
                100 * gflops / peak[size_t(r.threads)]);
  }
  std::printf("GFLOP/step: model FLOPs (6 per weight and token, plus the attention maps); MFU: GFLOPS / peak.\n");
  std::printf("Compare: /usr/bin/python3 examples/torch_train_step.py --threads N\n");
  return 0;
} catch (const std::exception& e) {
  return cli::report_error("bench_train", e);
}
