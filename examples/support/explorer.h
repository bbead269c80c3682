// What the attention explorer shows: a checkpoint's model run on one input the user typed, and for every
// attention module the exact queries, keys and values it was given, its mask and its attention weights.
//   reverse encoder-decoder  --input "8 1 1 7 5": the digits are the source; the target is the model's own
//                            greedy answer (bos, then its tokens up to eos); three kinds of attention:
//                            encoder self, decoder causal self, cross
//   sort GPT                 --input "3 1 4 1 5 9 2 6": 8 digits, then its greedy answer; causal self
//   character GPT            --input "ROMEO:": the text's bytes in the checkpoint's vocabulary, then as many
//                            characters of its greedy continuation as fit its context; causal self
// The queries, keys and values are read from the attention ops themselves (a profiler::Tap on the
// forward), so they are what the model used, after any rotary positions; every map's weights are then
// recomputed from them and must equal the module's attention_weights (else explore() refuses).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace qkv::explorer {

struct AttentionMap {
  std::string module;  // "decoder.blocks.1.attention2"
  std::string kind;    // "encoder self", "decoder causal self", "cross", "causal self"
  int64_t layer = 0, H = 0, Dh = 0, T = 0, S = 0;
  std::vector<std::string> query_tokens, key_tokens;  // T and S names
  std::vector<float> q, k, v;  // [T,H*Dh], [S,H*Dh], [S,H*Dh]: head h is columns h*Dh..
  std::vector<float> weights;  // [H,T,S]: the module's attention_weights
  std::vector<uint8_t> keep;   // [T,S]: 1 = the query may attend to the key
};

struct Exploration {
  std::string model_kind, checkpoint, input, answer;  // answer: the model's own output, as text
  std::vector<AttentionMap> maps;                     // in forward order
  double max_recompute_error = 0;  // max |softmax(q.k/sqrt(Dh), mask) - attention_weights| over all maps
};

// Loads the checkpoint, rebuilds its model from the metadata, tokenizes input for it and runs it. Throws
// cli::UsageError "explore_attention: ..." for input the model cannot read (naming the input and what it
// takes), and qkv::Error for a checkpoint it cannot load.
Exploration explore(const std::string& checkpoint, const std::string& input);

// softmax over the keys of q_i . k_j / sqrt(Dh) with masked keys at zero, in double: the numbers view's
// arithmetic, in C++ (the page does the same in JavaScript).
std::vector<double> recompute_row(const AttentionMap& map, int64_t head, int64_t query);

}  // namespace qkv::explorer
