// A program of someone else's that uses qkv: one attention layer, a backward, and the gradient's shape.
#include <iostream>

#include "nn/multi_head_attention.h"

int main() {
  qkv::manual_seed(0);
  qkv::nn::MultiHeadAttention attention(/*num_hiddens=*/8, /*num_heads=*/2);
  qkv::Tensor x = qkv::randn({1, 3, 8}).set_requires_grad();
  qkv::sum(attention.forward(x, x, x)).backward();
  std::cout << "consumer: dL/dx " << qkv::to_string(x.grad().shape()) << "\n";
}
