// A short tour of qkv's tensor floor: make tensors, look at them, multiply matrices.
#include <iostream>

#include "tensor/creation.h"

int main() {
  qkv::manual_seed(0);
  qkv::Tensor x = qkv::arange(6).view({2, 3});
  std::cout << "x = arange(6).view({2, 3})\n" << x << "\n";
  std::cout << "randn({2, 2}) =\n" << qkv::randn({2, 2}) << "\n";
}
