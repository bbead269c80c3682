// Grad mode: whether ops record the graph. Off inside a NoGrad scope (evaluation, optimizer updates).
#pragma once

namespace qkv {

bool is_grad_enabled();

// RAII: nothing is recorded while one of these lives (PyTorch: torch.no_grad()).
class NoGrad {
 public:
  NoGrad();
  ~NoGrad();
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool previous_;
};

}  // namespace qkv
