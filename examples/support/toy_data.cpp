// The toy tasks (see toy_data.h).
#include "support/toy_data.h"

#include <algorithm>

#include "tensor/elementwise.h"

namespace qkv::toy {
namespace {

using Sequence = std::vector<int64_t>;
std::string key_of(const Sequence& s) { return std::string(s.begin(), s.end()); }

// Draws sequences from gen, skipping any whose key is in `exclude`, until B are collected.
template <class Draw>
std::vector<Sequence> draw_sequences(int64_t B, Generator& gen,
                                     const std::unordered_set<std::string>& exclude, Draw draw) {
  std::vector<Sequence> out;
  while (int64_t(out.size()) < B) {
    Sequence s = draw(gen);
    if (!exclude.count(key_of(s))) out.push_back(std::move(s));
  }
  return out;
}

std::vector<Sequence> draw_unique(int64_t n, uint64_t seed, std::unordered_set<std::string>& keys,
                                  Sequence (*draw)(Generator&)) {
  Generator gen(seed);
  std::vector<Sequence> out;
  while (int64_t(out.size()) < n) {
    Sequence s = draw(gen);
    if (keys.insert(key_of(s)).second) out.push_back(std::move(s));
  }
  return out;
}

Sequence draw_reverse(Generator& gen) {
  Sequence s(gen.randint(ReverseTask::min_len, ReverseTask::max_len + 1));
  for (auto& d : s) d = gen.randint(0, 10);
  return s;
}

ReverseBatch reverse_batch(const std::vector<Sequence>& seqs) {
  const auto B = int64_t(seqs.size());
  constexpr int64_t L = ReverseTask::max_len, T = L + 1;
  ReverseBatch b{zeros({B, L}), zeros({B}), zeros({B, T}), zeros({B, T})};
  float *src = b.src.mutable_data(), *lens = b.src_valid_lens.mutable_data();
  float *tgt_in = b.tgt_in.mutable_data(), *tgt = b.tgt.mutable_data();
  for (int64_t i = 0; i < B; ++i) {
    const Sequence& s = seqs[i];
    const auto n = int64_t(s.size());
    lens[i] = float(n);
    for (int64_t t = 0; t < n; ++t) {
      src[i * L + t] = float(ReverseTask::first_digit + s[t]);
      tgt[i * T + t] = float(ReverseTask::first_digit + s[n - 1 - t]);  // target t reads source n-1-t
    }
    tgt[i * T + n] = ReverseTask::eos;
    tgt_in[i * T] = ReverseTask::bos;
    for (int64_t t = 1; t < T; ++t) tgt_in[i * T + t] = tgt[i * T + t - 1];
  }
  return b;
}

Sequence draw_sort(Generator& gen) {
  Sequence s(SortTask::length);
  for (auto& d : s) d = gen.randint(0, SortTask::vocab);
  return s;
}

SortBatch sort_batch(const std::vector<Sequence>& seqs) {
  const auto B = int64_t(seqs.size());
  constexpr int64_t n = SortTask::length, T = SortTask::context;
  SortBatch b{zeros({B, T}), zeros({B, T})};
  float *in = b.input.mutable_data(), *target = b.target.mutable_data();
  for (int64_t i = 0; i < B; ++i) {
    Sequence full = seqs[i], sorted = seqs[i];
    std::sort(sorted.begin(), sorted.end());
    full.insert(full.end(), sorted.begin(), sorted.end());  // 2n tokens: question, answer
    for (int64_t t = 0; t < T; ++t) {
      in[i * T + t] = float(full[t]);
      target[i * T + t] = t < n - 1 ? float(SortTask::ignore) : float(full[t + 1]);
    }
  }
  return b;
}

}  // namespace

ReverseTask::ReverseTask(int64_t held_out_count, uint64_t held_out_seed) {
  held_out_ = reverse_batch(draw_unique(held_out_count, held_out_seed, held_out_keys_, draw_reverse));
}

RaggedReverseBatch ragged(const ReverseBatch& batch) {
  const Tensor tgt_lens = kernels::add_scalar(batch.src_valid_lens, 1);  // the digits, then eos
  return {nn::RaggedBatch::from_padded(batch.src, batch.src_valid_lens),
          nn::RaggedBatch::from_padded(batch.tgt_in, tgt_lens),
          nn::RaggedBatch::from_padded(batch.tgt, tgt_lens).ids};
}

ReverseBatch ReverseTask::train_batch(int64_t B, Generator& gen) const {
  return reverse_batch(draw_sequences(B, gen, held_out_keys_, draw_reverse));
}

std::string ReverseTask::digits(const float* tokens, int64_t n) {
  std::string s;
  for (int64_t t = 0; t < n && tokens[t] >= first_digit; ++t)
    s += (s.empty() ? "" : " ") + std::to_string(int64_t(tokens[t]) - first_digit);
  return s;
}

std::string ReverseTask::token_name(float token) {
  if (token == pad) return "<pad>";
  if (token == bos) return "<bos>";
  if (token == eos) return "<eos>";
  return std::to_string(int64_t(token) - first_digit);
}

SortTask::SortTask(int64_t held_out_count, uint64_t held_out_seed) {
  held_out_ = sort_batch(draw_unique(held_out_count, held_out_seed, held_out_keys_, draw_sort));
}

SortBatch SortTask::train_batch(int64_t B, Generator& gen) const {
  return sort_batch(draw_sequences(B, gen, held_out_keys_, draw_sort));
}

}  // namespace qkv::toy
