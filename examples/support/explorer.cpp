// The attention explorer's numbers (see explorer.h): tokenize, run the model under an op tap, and collect
// each attention module's queries, keys, values, mask and weights.
#include "support/explorer.h"

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <sstream>

#include "autograd/profiler.h"
#include "nn/decode.h"
#include "nn/io/checkpoint.h"
#include "nn/io/checkpoint_metadata.h"
#include "support/char_vocab.h"
#include "support/cli.h"
#include "support/toy_data.h"

namespace qkv::explorer {

using namespace qkv::nn;
using toy::ReverseTask;
using toy::SortTask;

namespace {

// Input the model cannot read is a bad command line: "explore_attention: ..." (exit status 2).
[[noreturn]] void refuse(const std::string& what) { throw cli::UsageError("explore_attention: " + what); }

// "8 1 1 7 5" or "81175" -> {8, 1, 1, 7, 5}; anything but digits and spaces is refused.
std::vector<int64_t> digits_of(const std::string& input, const std::string& model) {
  std::vector<int64_t> out;
  for (char c : input) {
    if (c >= '0' && c <= '9')
      out.push_back(c - '0');
    else if (c != ' ' && c != ',')
      refuse("the " + model + " model reads digits 0-9 separated by spaces, but --input " + quote(input) +
             " holds " + quote(std::string(1, c)));
  }
  if (out.empty()) refuse("--input " + quote(input) + " has no digits for the " + model + " model");
  return out;
}

Tensor row(const std::vector<int64_t>& ids) {
  std::vector<float> v(ids.begin(), ids.end());
  const int64_t n = int64_t(v.size());
  return tensor(std::move(v), {1, n});
}

// One attention op's inputs as the tap saw them: q, k, v [1,T,H*Dh] (self-attention's joint [1,T,3*H*Dh]
// split into its three column blocks).
struct Seen {
  std::vector<float> q, k, v;
  int64_t T = 0, S = 0;
};

std::vector<float> columns(const Tensor& x, int64_t from, int64_t width) {  // x [1,T,C] -> [T,width]
  const int64_t T = x.size(1), C = x.size(2);
  const std::vector<float> all = x.to_vector();
  std::vector<float> out;
  for (int64_t t = 0; t < T; ++t)
    out.insert(out.end(), all.begin() + t * C + from, all.begin() + t * C + from + width);
  return out;
}

// Runs forward() with a tap that keeps the inputs of every attention op, in order.
template <class Forward>
std::vector<Seen> tap_attention(Forward forward) {
  std::vector<Seen> seen;
  profiler::Tap tap([&](const char* op, const std::vector<Tensor>& in, const Tensor&) {
    const std::string name = op;
    if (name == "multi_head_self_attention" && in.size() >= 1 && in[0].dim() == 3) {
      const int64_t D = in[0].size(2) / 3;
      seen.push_back({columns(in[0], 0, D), columns(in[0], D, D), columns(in[0], 2 * D, D), in[0].size(1),
                      in[0].size(1)});
    } else if (name == "multi_head_attention" && in.size() >= 3 && in[0].dim() == 3) {
      const int64_t D = in[0].size(2);
      seen.push_back(
          {columns(in[0], 0, D), columns(in[1], 0, D), columns(in[2], 0, D), in[0].size(1), in[1].size(1)});
    }
  });
  forward();
  return seen;
}

struct Module_ {
  std::string path, kind;
  int64_t layer;
  MultiHeadAttention* attention;
  std::vector<std::string> queries, keys;
  bool causal;
};

void fill(Exploration& ex, const std::vector<Module_>& modules, const std::vector<Seen>& seen) {
  if (seen.size() != modules.size())
    refuse("expected " + std::to_string(modules.size()) + " attention ops in the forward, saw " +
           std::to_string(seen.size()) + ": the attention path changed (see explorer.cpp tap_attention)");
  for (size_t i = 0; i < modules.size(); ++i) {
    const Module_& m = modules[i];
    AttentionMap map;
    map.module = m.path, map.kind = m.kind, map.layer = m.layer;
    map.H = m.attention->num_heads, map.Dh = m.attention->num_hiddens / map.H;
    map.T = seen[i].T, map.S = seen[i].S;
    map.query_tokens = m.queries, map.key_tokens = m.keys;
    map.q = seen[i].q, map.k = seen[i].k, map.v = seen[i].v;
    map.weights = m.attention->attention_weights.to_vector();  // [1,H,T,S]
    if (int64_t(map.weights.size()) != map.H * map.T * map.S || int64_t(m.queries.size()) != map.T ||
        int64_t(m.keys.size()) != map.S)
      refuse(m.path + ": attention_weights " + to_string(m.attention->attention_weights.shape()) +
             " do not fit " + std::to_string(map.T) + " queries and " + std::to_string(map.S) + " keys");
    map.keep.assign(size_t(map.T * map.S), 1);
    if (m.causal)
      for (int64_t t = 0; t < map.T; ++t)
        for (int64_t s = t + 1; s < map.S; ++s) map.keep[size_t(t * map.S + s)] = 0;
    for (int64_t h = 0; h < map.H; ++h)
      for (int64_t t = 0; t < map.T; ++t) {
        const std::vector<double> w = recompute_row(map, h, t);
        for (int64_t s = 0; s < map.S; ++s)
          ex.max_recompute_error =
              std::max(ex.max_recompute_error,
                       std::abs(w[size_t(s)] - map.weights[size_t((h * map.T + t) * map.S + s)]));
      }
    ex.maps.push_back(std::move(map));
  }
  if (ex.max_recompute_error > 1e-5)
    refuse("the weights recomputed from the queries and keys differ from the model's by " +
           std::to_string(ex.max_recompute_error) +
           ": the explorer's arithmetic no longer matches the model's");
}

Exploration explore_reverse(const std::string& path, const TransformerConfig& config,
                            const std::string& input) {
  EncoderDecoder model(config);
  load_checkpoint(path, model, nullptr, {"train.losses"});
  model.eval();
  NoGrad no_grad;
  std::vector<int64_t> src;
  for (int64_t d : digits_of(input, "reverse")) src.push_back(ReverseTask::first_digit + d);
  const int64_t S = int64_t(src.size());
  if (S > config.max_len)
    refuse(std::to_string(S) + " digits are more than the model's max_len " + std::to_string(config.max_len));
  const Tensor src_t = row(src), lens = tensor({float(S)});
  const Tensor out =
      greedy_decode(model, src_t, lens, ReverseTask::bos, ReverseTask::eos, std::min(S + 1, config.max_len));
  std::vector<int64_t> tgt_in{ReverseTask::bos};
  std::string answer;
  for (float t : out.to_vector()) {
    if (int64_t(t) == ReverseTask::eos || int64_t(t) == ReverseTask::pad) break;
    tgt_in.push_back(int64_t(t));
    answer += (answer.empty() ? "" : " ") + ReverseTask::token_name(t);
  }
  auto names = [](const std::vector<int64_t>& ids) {
    std::vector<std::string> out;
    for (int64_t id : ids) out.push_back(ReverseTask::token_name(float(id)));
    return out;
  };
  const std::vector<std::string> src_names = names(src), tgt_names = names(tgt_in);
  std::vector<Module_> modules;
  for (size_t l = 0; l < model.encoder->blocks.size(); ++l)
    modules.push_back({"encoder.blocks." + std::to_string(l) + ".attention", "encoder self", int64_t(l),
                       model.encoder->blocks[l]->attention.get(), src_names, src_names, false});
  for (size_t l = 0; l < model.decoder->blocks.size(); ++l) {
    const std::string p = "decoder.blocks." + std::to_string(l);
    modules.push_back({p + ".attention1", "decoder causal self", int64_t(l),
                       model.decoder->blocks[l]->attention1.get(), tgt_names, tgt_names, true});
    modules.push_back({p + ".attention2", "cross", int64_t(l), model.decoder->blocks[l]->attention2.get(),
                       tgt_names, src_names, false});
  }
  Exploration ex{"EncoderDecoder", path, input, answer, {}, 0};
  const auto seen = tap_attention([&] { model.forward(src_t, lens, row(tgt_in)); });
  fill(ex, modules, seen);
  return ex;
}

// The GPT's tokens for input, and the length of the prompt in them. The sort task (vocabulary 10): 8
// digits. The hook for the character GPT (train_chargpt): when its checkpoint names its characters in
// the metadata, map each character of input to its id here, and the rest works unchanged.
// A GPT's input: the sort task's 8 digits, or a character GPT's text (its vocabulary in the checkpoint's
// metadata, see support/char_vocab.h). Token names are what the page shows for each id.
struct GptInput {
  std::vector<int64_t> ids;
  std::function<std::string(int64_t)> name;
  std::string separator;  // between the answer's tokens
};

GptInput gpt_tokens(const MetadataReader& meta, const TransformerConfig& config, const std::string& input) {
  if (meta.has("task") && meta.choice("task", {"sort", "chargpt"}) == "chargpt") {
    auto vocab = std::make_shared<CharVocab>(CharVocab::from_metadata(meta));
    if (input.empty()) refuse("--input is empty: the character model needs some text to read");
    std::vector<int64_t> ids;
    try {
      for (float id : vocab->encode(input, "--input")) ids.push_back(int64_t(id));
    } catch (const Error& e) {
      refuse(e.what());
    }
    if (int64_t(ids.size()) > config.max_len)
      refuse("--input has " + std::to_string(ids.size()) + " characters, past the model's context of " +
             std::to_string(config.max_len));
    return {ids, [vocab](int64_t id) { return vocab->display(id); }, ""};
  }
  if (config.vocab_size != SortTask::vocab)
    refuse("a GPT with a vocabulary of " + std::to_string(config.vocab_size) +
           " and no \"task\" in its metadata is not one the explorer can tokenize (it reads the sort "
           "task's digits and train_chargpt's characters)");
  std::vector<int64_t> ids = digits_of(input, "sort");
  if (int64_t(ids.size()) != SortTask::length)
    refuse("the sort model sorts " + std::to_string(SortTask::length) + " digits, but --input " +
           quote(input) + " has " + std::to_string(ids.size()));
  return {ids, [](int64_t id) { return std::to_string(id); }, " "};
}

Exploration explore_gpt(const std::string& path, const MetadataReader& meta, const TransformerConfig& config,
                        const std::string& input) {
  GPT model(config);
  load_checkpoint(path, model, nullptr, {"train.losses", "train.curve"});
  model.eval();
  NoGrad no_grad;
  const GptInput in = gpt_tokens(meta, config, input);
  const std::vector<int64_t>& prompt = in.ids;
  const int64_t P = int64_t(prompt.size());
  // The prompt and the greedy answer, as long as the context allows (the sort task: 8 + 7 = 15 tokens; a
  // character GPT: as many characters as the prompt, within its context).
  const int64_t n = std::min(P, config.max_len - P);
  std::vector<int64_t> ids = prompt;
  std::string answer;
  if (n > 0) {
    const std::vector<float> all = generate(model, row(prompt), n).to_vector();
    for (int64_t i = P; i < int64_t(all.size()); ++i) {
      ids.push_back(int64_t(all[size_t(i)]));
      answer += (answer.empty() ? "" : in.separator) + in.name(int64_t(all[size_t(i)]));
    }
  }
  std::vector<std::string> names;
  for (int64_t id : ids) names.push_back(in.name(id));
  std::vector<Module_> modules;
  for (size_t l = 0; l < model.blocks.size(); ++l)
    modules.push_back({"blocks." + std::to_string(l) + ".attention", "causal self", int64_t(l),
                       model.blocks[l]->attention.get(), names, names, true});
  Exploration ex{"GPT", path, input, answer, {}, 0};
  const auto seen = tap_attention([&] { model.forward(row(ids)); });
  fill(ex, modules, seen);
  return ex;
}

}  // namespace

std::vector<double> recompute_row(const AttentionMap& m, int64_t h, int64_t t) {
  const int64_t D = m.H * m.Dh;
  std::vector<double> w(size_t(m.S), 0.0);
  double top = -std::numeric_limits<double>::infinity();
  for (int64_t s = 0; s < m.S; ++s) {
    if (!m.keep[size_t(t * m.S + s)]) continue;
    double dot = 0;
    for (int64_t d = 0; d < m.Dh; ++d)
      dot += double(m.q[size_t(t * D + h * m.Dh + d)]) * double(m.k[size_t(s * D + h * m.Dh + d)]);
    w[size_t(s)] = dot / std::sqrt(double(m.Dh));
    top = std::max(top, w[size_t(s)]);
  }
  double sum = 0;
  for (int64_t s = 0; s < m.S; ++s)
    sum += m.keep[size_t(t * m.S + s)] ? (w[size_t(s)] = std::exp(w[size_t(s)] - top)) : 0;
  for (int64_t s = 0; s < m.S; ++s)
    w[size_t(s)] = m.keep[size_t(t * m.S + s)] && sum > 0 ? w[size_t(s)] / sum : 0;
  return w;
}

Exploration explore(const std::string& checkpoint, const std::string& input) {
  const MetadataReader meta = read_metadata(checkpoint);
  const std::string kind = model_kind(meta);
  const TransformerConfig config = config_from_metadata(meta);
  return kind == "GPT" ? explore_gpt(checkpoint, meta, config, input)
                       : explore_reverse(checkpoint, config, input);
}

}  // namespace qkv::explorer
