// A key/value cache for generating token by token. Without one, generating token t reruns the whole model
// over all t tokens so far; yet in a causal model the keys and values of the earlier tokens never change
// (position t only looks back). So each self-attention layer keeps them: a step feeds only the new tokens
// through the model, appends their keys and values to the cache, and lets their queries attend to every
// cached key. Per generated token that is O(t D) attention work instead of O(t^2 D) (and O(D^2) for the
// projections and FFN instead of O(t D^2)); docs/12-generation.md measures it.
//
// The cache holds, for each layer, keys and values [B, capacity, D] (heads side by side, as the Q/K/V
// projections make them) and, per sequence, how many tokens it holds: sequences of one batch may have
// different lengths. A step feeds T new tokens per sequence; the last T - counts[b] of sequence b may be
// padding (computed, never cached, their outputs meaningless). Causal masking with a cache is bottom-right
// aligned: new token i of sequence b sits at position starts[b] + i and sees keys 0 .. starts[b] + i.
//
// The logits of a cached step are bitwise equal to those of one full forward over the same prefix
// (tests/test_kv_cache.cpp checks every position): every row is computed by the same operations in the same
// order; keys that are masked out (another sequence's longer past) add exact zeros. Attention runs the
// materialised kernel, as a full forward does by default (need_weights); with need_weights off a long full
// forward runs the flash kernel, whose rows round differently (each row alike, cached or not).
// An encoder-decoder's decoder also attends to the encoder's output, which does not change while decoding:
// its keys and values are projected once, at the first step, and kept (cross()).
// Leaves out: sliding windows and cropping (a sequence past capacity is refused), paged or shared caches.
#pragma once
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace qkv::nn {

// What every layer needs for one step over T new tokens per sequence (built by KVCache::begin_step).
struct CacheStep {
  int64_t T = 0;                // new tokens per sequence (the last T - counts[b] are padding)
  int64_t S = 0;                // keys attended: the longest sequence after the step
  std::vector<int64_t> starts;  // [B] position of each sequence's first new token (its cached length)
  std::vector<int64_t> counts;  // [B] real new tokens of each sequence
  Tensor keep;                  // [B,T,S] 1 where new token i of sequence b may attend key j
  Tensor positions;             // [B*T] position of every new token (padding: clamped below capacity)
};

class KVCache {
 public:
  // capacity: the most tokens a sequence may hold (a model's max_len).
  KVCache(int64_t num_layers, int64_t batch, int64_t capacity, int64_t num_hiddens);

  // The step over T new tokens per sequence, counts[b] of them real (all T if counts is empty). Throws
  // "<op>: ..." naming the sequence and the limit if one would hold more than capacity tokens.
  CacheStep begin_step(const char* op, int64_t T, std::vector<int64_t> counts = {}) const;
  // Writes layer's new keys and values k, v [B,T,D] (the real rows) at their positions and returns the
  // cached keys and values of the step, [B,S,D] each (copies).
  std::pair<Tensor, Tensor> append(int64_t layer, const Tensor& k, const Tensor& v, const CacheStep& step);
  // After every layer: each sequence now holds counts[b] more tokens.
  void end_step(const CacheStep& step);
  // Cross-attention: layer's keys and values of the encoder's output `memory`, made by project() the first
  // time and again whenever another memory tensor comes (held, so it cannot be another with the same
  // address; modifying it in place between steps is not seen). select() leaves them: they follow memory,
  // not the sequences' pasts.
  std::pair<Tensor, Tensor> cross(int64_t layer, const Tensor& memory,
                                  const std::function<std::pair<Tensor, Tensor>()>& project);

  int64_t batch() const { return int64_t(lengths_.size()); }
  int64_t capacity() const { return capacity_; }
  int64_t num_layers() const { return int64_t(keys_.size()); }
  const std::vector<int64_t>& lengths() const { return lengths_; }  // tokens each sequence holds
  void clear();  // forget every sequence's tokens and the cross-attention's keys and values
  // Sequence i becomes a copy of what sequence rows[i] held (beam search keeps its best beams' caches).
  void select(const std::vector<int64_t>& rows);

 private:
  std::vector<Tensor> keys_, values_;  // per layer [B, capacity, D]; zeros where nothing was written
  struct Cross {
    Tensor memory, keys, values;  // undefined until the layer's first cross-attention step
  };
  std::vector<Cross> cross_;  // per layer
  std::vector<int64_t> lengths_;
  int64_t capacity_, width_;
};

}  // namespace qkv::nn
