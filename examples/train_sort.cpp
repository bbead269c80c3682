// train_sort: a decoder-only (GPT-style) Transformer learns to sort 8 digits, minGPT's toy task.
// Input: the 8 digits, then the sorted digits so far; the loss counts only the answer positions. At the
// end it completes 1,000 held-out questions greedily and prints the share it sorts exactly (last line).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "nn/decode.h"
#include "nn/io/checkpoint.h"
#include "support/cli.h"
#include "support/toy_data.h"
#include "tensor/parallel.h"

using namespace qkv;
using namespace qkv::nn;
using toy::SortTask;

namespace {

TransformerConfig sort_config() {
  TransformerConfig c;
  c.vocab_size = SortTask::vocab;
  c.block = BlockConfig{64, 256, 4, 0.0f, true, true, Activation::gelu};
  c.num_blks = 2;
  c.max_len = SortTask::context;
  return c;
}

// Completes each held-out question (its first 8 tokens) with 8 greedy tokens; counts exact answers.
int64_t evaluate(GPT& model, const SortTask& task) {
  const toy::SortBatch& q = task.held_out();
  const int64_t n = q.input.size(0), L = SortTask::length;
  model.eval();
  const Tensor out = generate(model, narrow(q.input, 1, 0, L), L);  // [n, 16]
  model.train();
  int64_t exact = 0;
  for (int64_t i = 0; i < n; ++i) {
    bool same = true;
    // the right answer is the target row's last 8 entries (the input shifted by one)
    for (int64_t t = 0; t < L; ++t) same = same && out.at({i, L + t}) == q.target.at({i, L - 1 + t});
    exact += same;
  }
  return exact;
}

}  // namespace

int main(int argc, char** argv) try {
  cli::Flags flags("train_sort", "Train a decoder-only Transformer to sort digits, then evaluate it.");
  flags.integer_option("steps", "1500", 1, 10'000'000, "training steps")
      .integer_option("seed", "0", 0, INT64_MAX, "seed of the one generator")
      .integer_option("threads", "0", 0, 1024, "threads (0: QKV_NUM_THREADS or every core)")
      .number_option("lr", "2e-3", cli::Range::above(0, 1), "peak learning rate of AdamW")
      .option("out", "runs/sort", "folder for the checkpoint")
      .toggle("overwrite", "replace <out>/sort.safetensors even if trained for more --steps");
  cli::summary_toggle(flags);
  if (!flags.parse(argc, argv)) return 0;
  const std::string path = flags.str("out") + "/sort.safetensors";
  cli::check_against_checkpoint(flags, path, /*resume=*/false);
  cli::use_threads(flags.integer("threads"));
  manual_seed(uint64_t(flags.integer("seed")));

  const SortTask task;
  GPT model(sort_config());
  if (cli::print_summary(flags, model)) return 0;
  const int64_t steps = flags.integer("steps");
  AdamW opt(model.named_parameters(), flags.number("lr"), 0.9, 0.98, 1e-9, 0.01);
  const Schedule schedule{Schedule::cosine, float(flags.number("lr")), 100, steps, 1e-5f};
  std::cout << "sort: " << model.num_parameters() << " parameters, " << steps << " steps, "
            << get_num_threads() << " thread(s)\n";
  cli::Progress progress(0, steps);
  for (int64_t step = 0; step < steps; ++step) {
    opt.lr = schedule.lr_at(step);
    const toy::SortBatch b = task.train_batch(64);
    const Tensor logits = model.forward(b.input);  // [B,15,V]
    const Tensor loss =
        cross_entropy(reshape(logits, {-1, SortTask::vocab}), reshape(b.target, {-1}), SortTask::ignore);
    opt.zero_grad();
    loss.backward();
    clip_grad_norm(opt.params(), 1.0);
    opt.step();
    cli::check_loss(loss.item(), step);
    progress.update(step + 1, loss.item());
  }
  progress.finish();
  std::filesystem::create_directories(flags.str("out"));  // only now: a failed or refused run leaves no trace
  // The model's class and config, so the file alone rebuilds it (here, or in PyTorch:
  // examples/torch_from_checkpoint.py).
  Checkpoint ck{model_metadata(model), {}};
  ck.metadata["task"] = "sort";
  ck.metadata["step"] = std::to_string(steps);
  save_checkpoint(path, model, &opt, ck);
  std::cout << "saved " << path << "\n";

  const Tensor example = generate(
      model, narrow(narrow(task.held_out().input, 0, 0, 1), 1, 0, SortTask::length), SortTask::length);
  std::cout << "example: ";
  for (int64_t t = 0; t < 2 * SortTask::length; ++t)
    std::cout << int64_t(example.at({0, t})) << (t + 1 == SortTask::length ? " | " : " ");
  const int64_t exact = evaluate(model, task), n = task.held_out().input.size(0);
  std::cout << std::endl;
  cli::print_accuracy(exact, n);
  return 0;
} catch (const std::exception& e) {
  return cli::report_error("train_sort", e);
}
