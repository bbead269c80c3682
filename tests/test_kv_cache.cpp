// The key/value cache (nn/kv_cache.h): logits computed token by token with the cache are bitwise equal to
// one full forward over the same prefix, at every position up to max_len, for a batch of sequences of
// different lengths, with 1 and 2 threads; for GPT and for the encoder-decoder's decoder. Generation with
// and without the cache gives the same tokens; going past max_len is a named error.
#include "autograd/profiler.h"
#include "helpers.h"
#include "nn/decode.h"

using namespace qkv;
using namespace qkv::nn;
using namespace qkv::testing;
using Catch::Contains;

namespace {

// ids [B,T] uniform in [0, V)
Tensor random_ids(int64_t B, int64_t T, int64_t V) {
  Tensor ids = Tensor::empty({B, T});
  for (int64_t i = 0; i < ids.numel(); ++i) ids.mutable_data()[i] = float(default_generator().randint(0, V));
  return ids;
}

// Row t of logits [B,T,V] for sequence b: [V]
Tensor row(const Tensor& logits, int64_t b, int64_t t) {
  return reshape(narrow(narrow(logits, 0, b, 1), 1, t, 1), {logits.size(2)});
}

TransformerConfig small_gpt(int64_t max_len) {
  // widths <= 256, where GEMM's small and blocked paths add the same terms (tensor/gemm/gemm.cpp)
  return TransformerConfig{11, BlockConfig{16, 32, 2, 0.0f}, 2, max_len};
}

// Feeds ids [B,T] through model with a cache, `prompt` tokens first (fewer for a shorter sequence), then
// one token per step; each sequence b stops at lengths[b]. Checks that every logit row of sequence b equals
// the full forward's over b's prefix alone, and the full forward's over the whole padded batch.
// full(x, b) runs the model on x [n,T'], the sequences from b on.
template <class Full, class Cached>
void check_against_full(const Tensor& ids, const std::vector<int64_t>& lengths, int64_t prompt, Full full,
                        Cached cached) {
  const int64_t B = ids.size(0), T = ids.size(1);
  const Tensor batch_logits = full(ids, 0);  // [B,T,V]: causal, so right padding changes no earlier row
  int64_t fed = 0;
  while (fed < T) {
    const int64_t n = fed == 0 ? prompt : 1;
    std::vector<int64_t> counts;
    for (int64_t b = 0; b < B; ++b) counts.push_back(std::clamp<int64_t>(lengths[b] - fed, 0, n));
    const Tensor logits = cached(narrow(ids, 1, fed, n), counts);  // [B,n,V]
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < counts[b]; ++i) {
        const int64_t t = fed + i;
        INFO("sequence " << b << ", position " << t);
        const Tensor alone = full(narrow(narrow(ids, 0, b, 1), 1, 0, t + 1), b);  // [1,t+1,V]
        CHECK(bitwise_equal(row(logits, b, i), row(alone, 0, t)));
        CHECK(bitwise_equal(row(logits, b, i), row(batch_logits, b, t)));
      }
    fed += n;
  }
}

}  // namespace

TEST_CASE("kv cache: GPT's cached logits equal the full forward's bit for bit at every position") {
  RestoreThreads restore;
  manual_seed(4);
  const int64_t max_len = 9;
  TransformerConfig llama = small_gpt(max_len);  // rotary positions turned at each token's own place
  llama.block.norm = Norm::rms_norm;
  llama.block.ffn = Ffn::swiglu;
  llama.block.rope = true;
  for (const TransformerConfig& c : {small_gpt(max_len), llama}) {
    GPT gpt(c);
    gpt.eval();
    const Tensor ids = random_ids(3, max_len, 11);
    const std::vector<int64_t> lengths{9, 5, 2};
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      for (int64_t prompt : {1, 4}) {
        INFO((c.block.rope ? "llama" : "gpt2") << ", " << threads << " thread(s), a prompt of " << prompt);
        KVCache cache = gpt.make_cache(3);
        check_against_full(
            ids, lengths, prompt, [&](const Tensor& x, int64_t) { return gpt.forward(x); },
            [&](const Tensor& x, const std::vector<int64_t>& counts) {
              return gpt.forward(x, cache, counts);
            });
        CHECK(cache.lengths() == lengths);
      }
    }
  }
}

TEST_CASE("kv cache: still bitwise past GEMM's 256-deep slices (FFN width 512, 300 positions)") {
  // The FFN's second layer sums over k = 512 and attention's weights @ values over k = t + 1 up to 300:
  // one row alone must get the same grouping of the k terms as in the full forward's tall product.
  RestoreThreads restore;
  manual_seed(10);
  GPT gpt(TransformerConfig{65, BlockConfig{128, 512, 4, 0.0f}, 1, 300});
  gpt.eval();
  const Tensor ids = random_ids(1, 300, 65);
  const Tensor full = gpt.forward(ids);
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    KVCache cache = gpt.make_cache(1);
    int64_t differing = 0;
    for (int64_t t = 0; t < 300; ++t)
      differing += !bitwise_equal(row(gpt.forward(narrow(ids, 1, t, 1), cache), 0, 0), row(full, 0, t));
    INFO(threads << " thread(s)");
    CHECK(differing == 0);
  }
}

TEST_CASE("kv cache: the encoder-decoder's cached decoder equals its full forward bit for bit") {
  RestoreThreads restore;
  manual_seed(5);
  TransformerConfig c{9, BlockConfig{16, 24, 2, 0.0f}, 2, 8};
  for (bool norm_first : {false, true}) {
    c.block.norm_first = norm_first;
    EncoderDecoder model(c);
    model.eval();
    const Tensor src = random_ids(3, 6, 9), src_valid_lens = tensor({6, 3, 4});
    const Mask src_mask = Mask::from_valid_lens(src_valid_lens);
    NoGrad no_grad;
    const Tensor memory = model.encoder->forward(src, src_mask);
    const Tensor tgt = random_ids(3, 8, 9);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      INFO("norm_first " << norm_first << ", " << threads << " thread(s)");
      KVCache cache = model.decoder->make_cache(3);
      check_against_full(
          tgt, {8, 3, 6}, 2,
          [&](const Tensor& x, int64_t b) {  // the sequences' own encoder outputs and source lengths
            const int64_t n = x.size(0);
            return model.decoder->forward(x, narrow(memory, 0, b, n),
                                          Mask::from_valid_lens(narrow(src_valid_lens, 0, b, n)));
          },
          [&](const Tensor& x, const std::vector<int64_t>& counts) {
            return model.decoder->forward(x, memory, src_mask, cache, counts);
          });
    }
    // Greedy decoding gives the same tokens either way.
    CHECK(bitwise_equal(greedy_decode(model, src, src_valid_lens, 1, 2, 7, 0, /*use_cache=*/true),
                        greedy_decode(model, src, src_valid_lens, 1, 2, 7, 0, /*use_cache=*/false)));
  }
}

TEST_CASE("kv cache: the encoder's output is projected once per decoding, and again for another tensor") {
  manual_seed(6);
  EncoderDecoder model(TransformerConfig{9, BlockConfig{16, 24, 2, 0.0f}, 2, 8});
  model.eval();
  NoGrad no_grad;
  const Tensor src_valid_lens = tensor({6, 4});
  const Mask src_mask = Mask::from_valid_lens(src_valid_lens);
  const Tensor memory = model.encoder->forward(random_ids(2, 6, 9), src_mask);
  // Counts the projections of `of`: the Linear ops whose input is that tensor.
  auto projections = [&](const Tensor& of, auto step) {
    int64_t count = 0;
    profiler::Tap tap([&](const char* op, const std::vector<Tensor>& inputs, const Tensor&) {
      if (std::string(op) == "linear" && inputs[0].impl() == of.impl()) ++count;
    });
    step();
    return count;
  };
  KVCache cache = model.decoder->make_cache(2);
  const Tensor tgt = random_ids(2, 3, 9);
  auto step = [&](int64_t t, const Tensor& mem) {
    return model.decoder->forward(narrow(tgt, 1, t, 1), mem, src_mask, cache);
  };
  Tensor logits;
  // keys and values of memory in each of the 2 layers at the first step, none at the next
  CHECK(projections(memory, [&] { logits = step(0, memory); }) == 2 * 2);
  CHECK(projections(memory, [&] { logits = step(1, memory); }) == 0);
  // Another memory tensor (here 2 x memory) is projected anew, also mid-way.
  const Tensor other = memory * 2.0f;
  CHECK(projections(other, [&] { logits = step(2, other); }) == 2 * 2);
  // clear() forgets them: a new decoding projects its memory at its first step, and its logits are those
  // of the full forward over the same prefix with that memory.
  cache.clear();
  const Tensor full = model.decoder->forward(tgt, other, src_mask);  // [2,3,V]
  CHECK(projections(other, [&] { logits = step(0, other); }) == 2 * 2);
  CHECK(bitwise_equal(logits, narrow(full, 1, 0, 1)));
  for (int64_t t : {1, 2}) {
    CHECK(projections(other, [&] { logits = step(t, other); }) == 0);
    CHECK(bitwise_equal(logits, narrow(full, 1, t, 1)));
  }
}

TEST_CASE("kv cache: generation with and without the cache gives the same tokens") {
  manual_seed(6);
  GPT gpt(small_gpt(12));
  gpt.eval();
  const Tensor prompt = random_ids(2, 3, 11);
  for (const SamplingConfig& c : {SamplingConfig{.temperature = 0, .max_new_tokens = 10},
                                  SamplingConfig{.temperature = 1.2, .top_k = 6, .max_new_tokens = 10}}) {
    manual_seed(9);
    const Tensor with = generate(gpt, prompt, c, /*use_cache=*/true);
    manual_seed(9);
    const Tensor without = generate(gpt, prompt, c, /*use_cache=*/false);
    CHECK(with.shape() == Shape{2, 13});
    CHECK(bitwise_equal(with, without));
  }
  // The old greedy generate is temperature 0 without the cache, and crops the context past max_len.
  CHECK(bitwise_equal(generate(gpt, prompt, 10),
                      generate(gpt, prompt, {.temperature = 0, .max_new_tokens = 10})));
  CHECK(generate(gpt, prompt, 20).shape() == Shape{2, 23});
}

TEST_CASE("kv cache: a stop token ends a row, and generation once every row has one") {
  manual_seed(7);
  GPT gpt(small_gpt(16));
  gpt.eval();
  const Tensor prompt = random_ids(2, 2, 11);
  const Tensor free_run = generate(gpt, prompt, {.temperature = 0, .max_new_tokens = 12});
  // Stop at the first new token of row 0: row 0 repeats it, row 1 runs on until it draws it too (or to the end).
  const int64_t stop = int64_t(free_run.at({0, 2}));
  const Tensor stopped = generate(gpt, prompt, {.temperature = 0, .max_new_tokens = 12, .stop_token = stop});
  for (int64_t t = 2; t < stopped.size(1); ++t) CHECK(stopped.at({0, t}) == float(stop));
  bool row1_stopped = false;
  for (int64_t t = 2; t < stopped.size(1); ++t) {
    if (!row1_stopped)
      CHECK(stopped.at({1, t}) == free_run.at({1, t}));
    else
      CHECK(stopped.at({1, t}) == float(stop));
    row1_stopped = row1_stopped || stopped.at({1, t}) == float(stop);
  }
  CHECK((stopped.size(1) == 14 || row1_stopped));
}

TEST_CASE("kv cache: going past max_len and bad steps are named errors") {
  manual_seed(8);
  GPT gpt(small_gpt(4));
  gpt.eval();
  KVCache cache = gpt.make_cache(2);
  gpt.forward(random_ids(2, 3, 11), cache);
  CHECK_THAT(ERROR_OF(gpt.forward(random_ids(2, 2, 11), cache)),
             Contains("GPT: sequence 0 would reach 5 tokens, past max_len=4"));
  CHECK(cache.lengths() == std::vector<int64_t>{3, 3});  // nothing changed by the refusal
  gpt.forward(random_ids(2, 1, 11), cache);              // the last position is still fine
  CHECK_THAT(ERROR_OF(gpt.forward(random_ids(3, 1, 11), cache)),
             Contains("GPT: new token ids must be [B,T] with B=2"));
  CHECK_THAT(ERROR_OF(gpt.forward(random_ids(2, 2, 11), cache, {1})),
             Contains("one entry per sequence (2), got 1"));
  CHECK_THAT(ERROR_OF(gpt.forward(random_ids(2, 2, 11), cache, {3, 0})),
             Contains("sequence 0 has 3 new tokens, outside [0, 2]"));
  CHECK_THAT(
      ERROR_OF(generate(gpt, random_ids(1, 2, 11), {.max_new_tokens = 4})),
      Contains("generate: a prompt of 2 tokens and max_new_tokens=4 need 5 positions, past max_len=4"));
  CHECK(generate(gpt, random_ids(1, 2, 11), {.max_new_tokens = 3}).shape() == Shape{1, 5});
  CHECK(generate(gpt, random_ids(1, 2, 11), {.max_new_tokens = 4}, /*use_cache=*/false).shape() ==
        Shape{1, 6});
  CHECK_THAT(ERROR_OF(KVCache(2, 0, 4, 16)), Contains("KVCache: batch must be >= 1, got 0"));
}
