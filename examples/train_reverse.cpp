// train_reverse: the main example. Trains d2l's encoder-decoder Transformer to reverse sequences of
// 4..12 digits, then greedy-decodes 1,000 sequences it never trained on and prints its exact-match
// accuracy (the last line). Into --out it writes the checkpoint (safetensors), the decoder's
// cross-attention per head for one example (the reversal shows as an anti-diagonal), and the loss curve.
//   train_reverse                          train with the default recipe (about half a minute)
//   train_reverse --resume                 continue from the checkpoint in --out up to --steps
//   train_reverse --eval runs/reverse/reverse.safetensors   evaluate and draw only
//   train_reverse --eval runs/reverse/reverse.safetensors --beam 4   the same with beam search
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "nn/beam_search.h"
#include "nn/decode.h"
#include "nn/io/checkpoint.h"
#include "support/cli.h"
#include "support/svg.h"
#include "support/toy_data.h"
#include "tensor/parallel.h"

using namespace qkv;
using namespace qkv::nn;
using toy::ReverseTask;

namespace {

// The model: the sizes of the PyTorch reference (examples/torch_train_step.py, bench_train's twin: D=64,
// H=4, FFN 128, 2+2 blocks). The recipe differs, to pass 99% in 1,500 steps (2,000 for a margin: 99.9-100% over
// seeds 0-2) where the reference's needs ~8,000: pre-norm blocks (each stack ending in a LayerNorm) tolerate
// a 5x larger learning rate; no dropout, since every batch is fresh data and there is nothing to overfit;
// Adam(0.9, 0.98) with 100 warmup steps and cosine decay, clipping the gradient norm at 1; batches of 64.
TransformerConfig reverse_config() {
  TransformerConfig c;
  c.vocab_size = ReverseTask::vocab;
  c.block.num_hiddens = 64;
  c.block.num_heads = 4;
  c.block.ffn_num_hiddens = 128;
  c.block.norm_first = true;
  c.block.dropout = 0.0f;
  c.num_blks = 2;
  c.max_len = 64;
  return c;
}

// The model a checkpoint to evaluate was saved from, rebuilt from its metadata (nn/io/checkpoint_metadata.h).
TransformerConfig saved_config(const std::string& path) {
  const MetadataReader meta = read_metadata(path);
  meta.choice("task", {"reverse"});
  meta.integer("vocab_size", ReverseTask::vocab, ReverseTask::vocab);  // the task's tokens
  return config_from_metadata(meta);
}

// Where a run to resume stopped: its step (at most --steps' bound), generator and loss history.
int64_t resume_from(const std::string& path, const Checkpoint& ck, std::vector<float>& losses) {
  const MetadataReader meta(path, ck.metadata);
  const int64_t start = meta.integer("step", 0, 10'000'000);
  try {
    default_generator().set_state(meta.string("generator"));
  } catch (const Error&) {
    meta.refuse("generator", "is not a generator state, got " + quote(meta.string("generator")));
  }
  for (auto& [name, t] : ck.extra)
    if (name == "train.losses") losses = t.to_vector();
  if (int64_t(losses.size()) != start)
    fail_checkpoint(
        path, "holds " + std::to_string(losses.size()) + " losses for " + std::to_string(start) + " steps");
  return start;
}
// The loss on the batch made ragged (nn/ragged.h): only its real tokens are computed, about two thirds of
// the padded batch's work for the same loss (the padded form is model.forward(src, src_valid_lens, tgt_in)
// and the loss over [B*T] targets ignoring pad).
Tensor loss_on(EncoderDecoder& model, const toy::ReverseBatch& b) {
  const toy::RaggedReverseBatch r = toy::ragged(b);
  return cross_entropy(model.forward(r.src, r.tgt_in), r.tgt, ReverseTask::pad);  // logits [N,V]
}

// Decodes the first n held-out sequences, greedily or with a beam of `beam` (nn/beam_search.h); returns
// the predictions [n,13] and how many are exact.
std::pair<Tensor, int64_t> evaluate(EncoderDecoder& model, const ReverseTask& task, int64_t n,
                                    int64_t beam = 1) {
  const toy::ReverseBatch& all = task.held_out();
  const Tensor src = narrow(all.src, 0, 0, n), lens = narrow(all.src_valid_lens, 0, 0, n);
  const Tensor tgt = narrow(all.tgt, 0, 0, n);
  model.eval();
  const Tensor pred = beam == 1
                          ? greedy_decode(model, src, lens, ReverseTask::bos, ReverseTask::eos, tgt.size(1))
                          : beam_search(model, src, lens, ReverseTask::bos, ReverseTask::eos, tgt.size(1),
                                        {.beam_size = beam});
  model.train();
  int64_t exact = 0;
  for (int64_t i = 0; i < n; ++i) {
    bool same = true;
    for (int64_t t = 0; t < tgt.size(1); ++t) same = same && pred.at({i, t}) == tgt.at({i, t});
    exact += same;
  }
  return {pred, exact};
}

// The decoder's cross-attention for held-out example i, one heatmap per head: rows are the tokens it
// wrote (after bos), columns the source digits.
void draw_cross_attention(EncoderDecoder& model, const ReverseTask& task, const Tensor& pred, int64_t i,
                          const std::string& path) {
  const toy::ReverseBatch& all = task.held_out();
  const int64_t len = int64_t(all.src_valid_lens.at({i}));
  const Tensor src = narrow(all.src, 0, i, 1), lens = narrow(all.src_valid_lens, 0, i, 1);
  Tensor tgt_in = concat({full({1, 1}, ReverseTask::bos), narrow(narrow(pred, 0, i, 1), 1, 0, len)}, 1);
  model.eval();
  {
    NoGrad no_grad;
    model.forward(src, lens, tgt_in);
  }
  model.train();
  const Tensor& w = model.decoder->blocks.back()->attention2->attention_weights;  // [1,H,len+1,S]
  plot::HeatmapOptions opt;
  opt.title = "Decoder cross-attention (last block), one held-out sequence";
  opt.xlabel = "source digits (keys)";
  opt.ylabel = "output so far (queries)";
  std::vector<plot::Matrix> maps;
  for (int64_t h = 0; h < w.size(1); ++h) {
    plot::Matrix m(len + 1, std::vector<float>(len));
    for (int64_t t = 0; t <= len; ++t)
      for (int64_t s = 0; s < len; ++s) m[t][s] = w.at({0, h, t, s});
    maps.push_back(m);
    opt.titles.push_back("Head " + std::to_string(h + 1));
  }
  for (int64_t s = 0; s < len; ++s) opt.x_ticks.push_back(ReverseTask::token_name(all.src.at({i, s})));
  for (int64_t t = 0; t <= len; ++t) opt.y_ticks.push_back(ReverseTask::token_name(tgt_in.at({0, t})));
  opt.ncols = 2;
  opt.vmin = 0;  // weights: the colour bar spans [0, 1]
  opt.vmax = 1;
  plot::write_file(path, plot::heatmaps(maps, opt));
}

void draw_losses(const std::vector<float>& losses, const std::string& path) {
  plot::Series raw{"loss per step", {}, {}};
  plot::Series avg{"average of 50 steps", {}, {}};
  double window = 0;
  for (size_t s = 0; s < losses.size(); ++s) {
    raw.xs.push_back(double(s + 1));
    raw.ys.push_back(std::max(1e-4, double(losses[s])));
    window += losses[s] - (s >= 50 ? losses[s - 50] : 0);
    avg.xs.push_back(double(s + 1));
    avg.ys.push_back(std::max(1e-4, window / double(std::min<size_t>(s + 1, 50))));
  }
  plot::LineOptions opt{"Training loss: reverse", "step", "cross-entropy (log scale)", true};
  plot::write_file(path, plot::line_plot({raw, avg}, opt));
}

}  // namespace

int main(int argc, char** argv) try {
  cli::Flags flags("train_reverse",
                   "Train a Transformer to reverse digit sequences, then evaluate and draw it.");
  flags.integer_option("steps", "2000", 1, 10'000'000, "total training steps")
      .integer_option("seed", "0", 0, INT64_MAX, "seed of the one generator (init, data, dropout)")
      .integer_option("threads", "0", 0, 1024, "threads (0: QKV_NUM_THREADS or every core)")
      .number_option("lr", "5e-3", cli::Range::above(0, 1),
                     "peak learning rate of Adam (warmup, then cosine decay)")
      .integer_option("batch", "64", 1, 4096, "sequences per step")
      .option("out", "runs/reverse", "folder for the checkpoint and the pictures")
      .toggle("resume", "continue from <out>/reverse.safetensors")
      .toggle("overwrite", "replace <out>/reverse.safetensors even if trained for more --steps")
      .option("eval", "", "only evaluate and draw this checkpoint")
      .integer_option("beam", "1", 1, 64, "beam width of the final held-out decoding (1: greedy)");
  cli::summary_toggle(flags);
  if (!flags.parse(argc, argv)) return 0;
  const std::string out = flags.str("out"), ckpt_path = out + "/reverse.safetensors";
  if (flags.given("eval") && flags.str("eval").empty()) flags.refuse("--eval needs the path of a checkpoint");
  if (flags.given("eval") && (flags.on("resume") || flags.on("overwrite")))
    flags.refuse("--eval only evaluates: it does not go with --resume or --overwrite");
  if (flags.on("resume") && flags.on("overwrite"))
    flags.refuse("--resume and --overwrite contradict each other");
  if (!flags.given("eval")) cli::check_against_checkpoint(flags, ckpt_path, flags.on("resume"));
  cli::use_threads(flags.integer("threads"));
  manual_seed(uint64_t(flags.integer("seed")));

  const ReverseTask task;
  const bool eval_only = !flags.str("eval").empty();
  EncoderDecoder model(eval_only ? saved_config(flags.str("eval")) : reverse_config());
  if (cli::print_summary(flags, model)) return 0;
  const int64_t steps = flags.integer("steps"), B = flags.integer("batch");
  Adam opt(model.named_parameters(), flags.number("lr"), 0.9, 0.98, 1e-9);
  Schedule schedule{Schedule::cosine, float(flags.number("lr")), std::min<int64_t>(100, steps / 10), steps,
                    1e-5f};
  std::vector<float> losses;
  int64_t start = 0;

  if (eval_only) {
    load_checkpoint(flags.str("eval"), model, nullptr, {"train.losses"});
    std::cout << "loaded " << flags.str("eval") << "\n";
  } else if (flags.on("resume")) {
    start = resume_from(ckpt_path, load_checkpoint(ckpt_path, model, &opt, {"train.losses"}), losses);
    std::cout << "resumed " << ckpt_path << " at step " << start << "\n";
  }
  if (!eval_only) {
    std::cout << "reverse: " << model.num_parameters() << " parameters, " << steps << " steps of " << B
              << " sequences, " << get_num_threads() << " thread(s)\n";
    cli::Progress progress(start, steps);
    for (int64_t step = start; step < steps; ++step) {
      opt.lr = schedule.lr_at(step);
      const Tensor loss = loss_on(model, task.train_batch(B));
      opt.zero_grad();
      loss.backward();
      clip_grad_norm(opt.params(), 1.0);
      opt.step();
      cli::check_loss(loss.item(), step);
      losses.push_back(loss.item());
      if ((step + 1) % 500 == 0 && step + 1 < steps)
        progress.note_accuracy(double(evaluate(model, task, 200).second) / 200);
      progress.update(step + 1, loss.item());
    }
    progress.finish();
    std::filesystem::create_directories(out);  // only now: a failed or refused run leaves no trace
    Checkpoint ck{model_metadata(model), {{"train.losses", tensor(losses)}}};
    ck.metadata["task"] = "reverse";
    ck.metadata["step"] = std::to_string(steps);
    ck.metadata["generator"] = default_generator().state();
    save_checkpoint(ckpt_path, model, &opt, ck);
    std::cout << "saved " << ckpt_path << "\n";
    draw_losses(losses, out + "/loss.svg");
  }

  const int64_t n = task.held_out().src.size(0);
  const auto [pred, exact] = evaluate(model, task, n, flags.integer("beam"));
  std::cout << "held-out examples (source -> prediction):\n";
  for (int64_t i = 0; i < 5; ++i) {
    const std::string src =
        ReverseTask::digits(task.held_out().src.data() + i * ReverseTask::max_len, ReverseTask::max_len);
    const std::string got = ReverseTask::digits(pred.data() + i * pred.size(1), pred.size(1));
    const std::string want = ReverseTask::digits(task.held_out().tgt.data() + i * pred.size(1), pred.size(1));
    std::cout << "  " << src << "  ->  " << got << (got == want ? "" : "   (wrong: " + want + ")") << "\n";
  }
  std::filesystem::create_directories(out);
  draw_cross_attention(model, task, pred, 0, out + "/cross_attention.svg");
  std::cout << "pictures: " << out << "/cross_attention.svg" << (eval_only ? "" : ", " + out + "/loss.svg")
            << "\n";
  cli::print_accuracy(exact, n);
  return 0;
} catch (const std::exception& e) {
  return cli::report_error("train_reverse", e);
}
