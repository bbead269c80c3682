// tour: qkv in twenty lines, the README's taste of the API (tests/test_readme.cpp keeps them equal).
#include <iostream>

#include "nn/multi_head_attention.h"

using namespace qkv;

int main() {
  manual_seed(0);
  // d2l's example: num_hiddens = 100 split over 5 heads; 2 sequences of 4 tokens
  nn::MultiHeadAttention attention(/*num_hiddens=*/100, /*num_heads=*/5);
  Tensor X = randn({2, 4, 100}).set_requires_grad();          // [B,T,D]
  nn::Mask mask = nn::Mask::from_valid_lens(tensor({3, 2}));  // sequence 0 has 3 real keys, 1 has 2
  Tensor Y = attention.forward(X, X, X, mask);                // self-attention: [B,T,D]
  sum(Y * Y).backward();                                      // any scalar loss, then backward
  std::cout << "Y " << to_string(Y.shape()) << ", dL/dX " << to_string(X.grad().shape()) << "\n";
  // attention_weights is [B,H,T,S]: head 0 of sequence 1 puts zero weight on its padded keys 2 and 3
  std::cout << reshape(narrow(narrow(attention.attention_weights, 0, 1, 1), 1, 0, 1), {4, 4}) << "\n";
  std::cout << "W_q.weight.grad " << to_string(attention.W_q->weight.grad().shape()) << "\n";
}
