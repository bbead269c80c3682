// train_chargpt: a decoder-only GPT that learns to write like a text file, character by character
// (nanoGPT's shakespeare_char, in qkv). The vocabulary is the file's distinct bytes (a UTF-8 character
// outside ASCII is several tokens), the first 90% trains and the last 10% validates. Into --out it writes
// the checkpoint (its metadata holds the vocabulary and the whole model configuration) and loss.svg.
//   train_chargpt --data ../shared/data/tinyshakespeare.txt     the recipe below, 2,000 steps
//   train_chargpt --arch llama                                   RMSNorm, RoPE and SwiGLU instead
//   train_chargpt --resume                                       continue <out>/chargpt.safetensors
//   train_chargpt --sample runs/chargpt/chargpt.safetensors --prompt "ROMEO:"   write text
// Without --data it trains on the repository's own README.md and docs/*.md (run it from the repository's
// root), which every clone has. The recipe is nanoGPT's laptop-CPU one: batch 12 x block 64, 4 layers,
// 4 heads, width 128, no dropout, no biases, tied embeddings, GPT-2 init, AdamW(0.9, 0.99) with weight
// decay 0.1 on matrices only, lr 1e-3 (100 warmup steps, cosine to 1e-4 at step 2,000), clipping at 1.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "nn/decode.h"
#include "nn/io/checkpoint.h"
#include "support/char_vocab.h"
#include "support/cli.h"
#include "support/svg.h"
#include "tensor/parallel.h"

using namespace qkv;
using namespace qkv::nn;
namespace fs = std::filesystem;

namespace {

// ---- the text and its vocabulary ----

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("--data", "cannot read " + quote(path));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// No --data: README.md and every docs/*.md in name order, from the current folder (the repository root).
std::string default_text() {
  if (!fs::exists("README.md") || !fs::is_directory("docs"))
    fail("--data",
         "none given, so README.md and docs/*.md are read from the repository's root, and they "
         "are not in " +
             quote(fs::current_path().string()));
  std::vector<std::string> paths{"README.md"};
  for (const auto& e : fs::directory_iterator("docs"))
    if (e.path().extension() == ".md") paths.push_back(e.path().string());
  std::sort(paths.begin() + 1, paths.end());
  std::string text;
  for (const auto& p : paths) text += read_file(p);
  return text;
}

using Vocab = CharVocab;  // the distinct bytes of the text (support/char_vocab.h)

// B random windows of T + 1 tokens from data: inputs x [B,T] and targets y [B,T] (x shifted by one).
std::pair<Tensor, Tensor> batch(const std::vector<float>& data, int64_t B, int64_t T) {
  Tensor x({B, T}), y({B, T});
  float *px = x.mutable_data(), *py = y.mutable_data();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t start = default_generator().randint(0, int64_t(data.size()) - T);
    std::copy(data.begin() + start, data.begin() + start + T, px + b * T);
    std::copy(data.begin() + start + 1, data.begin() + start + T + 1, py + b * T);
  }
  return {x, y};
}

// ---- the model ----

TransformerConfig chargpt_config(const cli::Flags& f, int64_t vocab_size) {
  TransformerConfig c;
  const bool llama = f.str("arch") == "llama";
  const int64_t D = f.integer("width");
  c.vocab_size = vocab_size;
  c.block.num_hiddens = D;
  c.block.num_heads = f.integer("heads");
  // 4 D for GPT-2's MLP; SwiGLU's three matrices get 8/3 D (to a multiple of 8), about as many parameters
  c.block.ffn_num_hiddens = f.integer("ffn") > 0 ? f.integer("ffn") : llama ? (8 * D / 3 + 7) / 8 * 8 : 4 * D;
  c.block.dropout = float(f.number("dropout"));
  c.block.bias = c.block.ffn_bias = c.block.norm_bias = f.integer("bias") == 1;
  c.block.activation = Activation::gelu;
  c.block.norm = llama ? Norm::rms_norm : Norm::layer_norm;
  c.block.ffn = llama ? Ffn::swiglu : Ffn::mlp;
  c.block.rope = llama;
  c.num_blks = f.integer("layers");
  c.max_len = f.integer("block");
  c.tie_embeddings = f.integer("tie") == 1;
  c.gpt2_init = true;
  return c;
}

// Mean loss over n random batches of a split, in eval mode and without a graph.
double estimate_loss(GPT& model, const std::vector<float>& data, int64_t n, int64_t B, int64_t T) {
  model.eval();
  NoGrad no_grad;
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const auto [x, y] = batch(data, B, T);
    total += cross_entropy(model.forward(x), y).item();
  }
  model.train();
  return total / double(n);
}

void draw_losses(const std::vector<float>& curve, const std::string& path) {  // rows (step, train, val)
  plot::Series train{"train", {}, {}}, val{"validation", {}, {}};
  for (size_t i = 0; i + 2 < curve.size(); i += 3) {
    train.xs.push_back(curve[i]);
    train.ys.push_back(curve[i + 1]);
    val.xs.push_back(curve[i]);
    val.ys.push_back(curve[i + 2]);
  }
  plot::LineOptions opt{"Character GPT: loss", "step", "cross-entropy (mean over eval batches)", false};
  plot::write_file(path, plot::line_plot({train, val}, opt));
}

// ---- --sample ----

int sample(const cli::Flags& f) {
  const std::string path = f.str("sample");
  const MetadataReader meta = read_metadata(path);
  meta.choice("task", {"chargpt"});
  if (model_kind(meta) != "GPT") meta.refuse("model", "must be GPT");
  const Vocab vocab = Vocab::from_metadata(meta);
  GPT model(config_from_metadata(meta));
  if (model.config.vocab_size != int64_t(vocab.bytes.size()))
    meta.refuse("vocab", "lists " + std::to_string(vocab.bytes.size()) + " bytes for a vocab_size of " +
                             std::to_string(model.config.vocab_size));
  load_checkpoint(path, model, nullptr, {"train.curve"});
  model.eval();
  const std::vector<float> ids = vocab.encode(f.str("prompt").empty() ? "\n" : f.str("prompt"), "--prompt");
  SamplingConfig s;
  s.temperature = f.number("temperature");
  s.top_k = f.integer("top-k");
  s.top_p = f.number("top-p");
  s.max_new_tokens = f.integer("max-new-tokens");
  // the cache while the whole text fits the context; beyond it each step re-reads the last max_len tokens
  const bool cache = int64_t(ids.size()) + s.max_new_tokens - 1 <= model.config.max_len;
  const Tensor out = generate(model, tensor(ids, {1, int64_t(ids.size())}), s, cache);
  std::string text;
  for (int64_t i = 0; i < out.size(1); ++i) text += vocab.bytes[size_t(out.at({0, i}))];
  std::cout << text << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  cli::Flags f("train_chargpt",
               "Train a character-level GPT on a text file (default: README.md and docs/*.md of the "
               "repository, read from the current folder), or write text with --sample.");
  f.option("data", "", "text file to learn (no --data: README.md + docs/*.md from the repository root)")
      .choice_option("arch", "gpt2", {"gpt2", "llama"},
                     "gpt2: LayerNorm, GELU MLP, learned positions; "
                     "llama: RMSNorm, SwiGLU, rotary positions")
      .integer_option("steps", "2000", 1, 10'000'000, "training steps (the cosine reaches --min-lr here)")
      .integer_option("batch", "12", 1, 4096, "sequences per step")
      .integer_option("block", "64", 2, 4096, "context length in tokens (max_len)")
      .integer_option("layers", "4", 1, 64, "blocks")
      .integer_option("heads", "4", 1, 64, "attention heads")
      .integer_option("width", "128", 2, 4096, "model width D")
      .integer_option("ffn", "0", 0, 65536, "feed-forward width (0: 4 D for gpt2, 8/3 D for llama)")
      .number_option("dropout", "0", cli::Range::closed(0, 0.9), "dropout")
      .integer_option("bias", "0", 0, 1, "1: biases in Linear and LayerNorm")
      .integer_option("tie", "1", 0, 1, "1: the output layer is the token embedding")
      .number_option("lr", "1e-3", cli::Range::above(0, 1), "peak learning rate")
      .number_option("min-lr", "1e-4", cli::Range::closed(0, 1), "learning rate at --steps (cosine)")
      .integer_option("warmup", "100", 0, 10'000'000,
                      "linear warmup steps (default: 100, or steps / 10 if fewer)")
      .number_option("weight-decay", "0.1", cli::Range::closed(0, 10), "AdamW's, on matrices only")
      .number_option("beta1", "0.9", cli::Range::closed(0, 0.9999), "AdamW beta1")
      .number_option("beta2", "0.99", cli::Range::closed(0, 0.9999), "AdamW beta2")
      .number_option("clip", "1", cli::Range::above(0, 1e6), "gradient clipping at this global norm")
      .integer_option("eval-interval", "250", 1, 10'000'000, "steps between evaluations")
      .integer_option("eval-iters", "20", 1, 100'000, "batches per split in an evaluation")
      .integer_option("seed", "0", 0, INT64_MAX, "seed of the one generator (init, batches, sampling)")
      .integer_option("threads", "0", 0, 1024, "threads (0: QKV_NUM_THREADS or every core)")
      .option("out", "runs/chargpt", "folder for chargpt.safetensors and loss.svg")
      .toggle("resume", "continue from <out>/chargpt.safetensors up to --steps")
      .toggle("overwrite", "replace <out>/chargpt.safetensors even if trained for more --steps")
      .option("sample", "", "write text with this checkpoint instead of training")
      .option("prompt", "", "--sample: the text to continue (none: a newline)")
      .number_option("temperature", "0.8", cli::Range::closed(0, 100), "--sample: 0 is greedy")
      .integer_option("top-k", "200", 0, 1'000'000, "--sample: keep the k likeliest tokens (0: all)")
      .number_option("top-p", "1", cli::Range::above(0, 1), "--sample: nucleus probability")
      .integer_option("max-new-tokens", "500", 0, 1'000'000, "--sample: tokens to write");
  cli::summary_toggle(f);
  if (!f.parse(argc, argv)) return 0;
  cli::use_threads(f.integer("threads"));
  manual_seed(uint64_t(f.integer("seed")));
  if (!f.str("sample").empty()) return sample(f);
  if (f.on("resume") && f.on("overwrite")) f.refuse("--resume and --overwrite contradict each other");
  const std::string out = f.str("out"), ckpt_path = out + "/chargpt.safetensors";
  cli::check_against_checkpoint(f, ckpt_path, f.on("resume"));

  const std::string text = f.str("data").empty() ? default_text() : read_file(f.str("data"));
  const int64_t B = f.integer("batch"), steps = f.integer("steps");
  Vocab vocab = Vocab::of_text(text);
  int64_t start = 0;
  std::vector<float> curve;  // (step, train, val) per evaluation
  std::optional<MetadataReader> saved;
  if (f.on("resume")) {
    saved.emplace(read_metadata(ckpt_path));
    vocab = Vocab::from_metadata(*saved);  // the saved model's tokens; the text must not need others
  }
  const std::vector<float> ids = vocab.encode(text, f.str("data").empty() ? "the default text" : "--data");
  const auto n_train = int64_t(0.9 * double(ids.size()));
  const std::vector<float> train(ids.begin(), ids.begin() + n_train), val(ids.begin() + n_train, ids.end());
  GPT model(saved ? config_from_metadata(*saved) : chargpt_config(f, int64_t(vocab.bytes.size())));
  if (cli::print_summary(f, model)) return 0;
  const int64_t T = model.config.max_len;
  if (int64_t(val.size()) <= T)
    fail("--data", "the text has " + std::to_string(ids.size()) +
                       " bytes: its last 10% must be longer "
                       "than the block of " +
                       std::to_string(T));
  AdamW opt(decay_matrices_only(model.named_parameters(), f.number("weight-decay")), f.number("lr"),
            f.number("beta1"), f.number("beta2"), 1e-8);
  // 100 warmup steps unless asked otherwise; a run shorter than 1,000 steps warms up over its first tenth
  const int64_t warmup = f.given("warmup") ? f.integer("warmup") : std::min<int64_t>(100, steps / 10);
  opt.set_schedule(Schedule{Schedule::cosine, f.number("lr"), warmup, steps, f.number("min-lr")});
  if (saved) {
    const Checkpoint ck = load_checkpoint(ckpt_path, model, &opt, {"train.curve"});
    start = saved->integer("step", 0, 10'000'000);
    default_generator().set_state(saved->string("generator"));
    for (const auto& [name, t] : ck.extra)
      if (name == "train.curve") curve = t.to_vector();
    std::cout << "resumed " << ckpt_path << " at step " << start << "\n";
  }
  std::cout << "chargpt (" << model.config.block.num_hiddens << " wide, " << model.config.num_blks
            << " layers, " << (model.config.block.rope ? "llama" : "gpt2") << "): " << text.size()
            << " bytes, vocabulary " << vocab.bytes.size() << ", " << model.num_parameters()
            << " parameters, " << get_num_threads() << " thread(s)\n";

  const int64_t every = f.integer("eval-interval"), iters = f.integer("eval-iters");
  auto evaluate = [&](int64_t step, double seconds) {
    const double tl = estimate_loss(model, train, iters, B, T), vl = estimate_loss(model, val, iters, B, T);
    curve.insert(curve.end(), {float(step), float(tl), float(vl)});
    std::printf("step %lld: train %.4f, val %.4f (%.1f s training)\n", (long long)step, tl, vl, seconds);
    std::fflush(stdout);
    return vl;
  };
  double trained = 0, val_loss = 0;
  if (start == 0) val_loss = evaluate(0, 0);
  cli::Progress progress(start, steps);
  for (int64_t step = start; step < steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto [x, y] = batch(train, B, T);
    const Tensor loss = cross_entropy(model.forward(x), y);
    opt.zero_grad();
    loss.backward();
    clip_grad_norm(opt.params(), f.number("clip"));
    opt.step();
    cli::check_loss(loss.item(), step);
    trained += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    progress.update(step + 1, loss.item());
    if ((step + 1) % every == 0 || step + 1 == steps) {
      progress.finish();
      val_loss = evaluate(step + 1, trained);
    }
  }
  progress.finish();
  fs::create_directories(out);  // only now: a failed or refused run leaves no trace
  Checkpoint ck{model_metadata(model), {{"train.curve", tensor(curve)}}};
  ck.metadata["task"] = "chargpt";
  ck.metadata["vocab"] = vocab.text();
  ck.metadata["step"] = std::to_string(steps);
  ck.metadata["generator"] = default_generator().state();
  save_checkpoint(ckpt_path, model, &opt, ck);
  draw_losses(curve, out + "/loss.svg");
  std::printf("saved %s and %s/loss.svg; %lld steps in %.1f s (%.1f ms per step)\n", ckpt_path.c_str(),
              out.c_str(), (long long)(steps - start), trained,
              1000 * trained / double(std::max<int64_t>(1, steps - start)));
  std::printf("validation loss: %.4f\n", val_loss);
  return 0;
} catch (const std::exception& e) {
  return cli::report_error("train_chargpt", e);
}
