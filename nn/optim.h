// Optimizers with PyTorch's update rules, gradient clipping by global norm, and learning-rate schedules.
// An optimizer holds the parameters by name, so its state (momentum, Adam's moments, the step count) can
// be saved beside the model's in a checkpoint and a run resumed exactly. Hyperparameters are doubles, as
// PyTorch's Python floats: 1 - beta2 is 1 - 0.999, not 1 - 0.999f (which is 1.3e-5 relative off); each
// constant of a step is worked out in double and rounded to float once, as PyTorch's kernels do.
//   SGD    g = grad + wd p;   buf = momentum buf + g   (buf starts at 0, so it is g on the first step);
//          p -= lr (nesterov ? g + momentum buf : buf)
//   Adam   g = grad + wd p;   m = b1 m + (1-b1) g;   v = b2 v + (1-b2) g^2;
//          p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
//   AdamW  as Adam without wd in g, and p -= lr wd p first (decoupled weight decay)
// Parameter groups give each set of parameters its own weight decay (PyTorch's param_groups; nanoGPT
// decays matrices only), and Adam can take its learning rate from a Schedule at its own step count.
#pragma once
#include <optional>
#include <string>

#include "nn/module.h"

namespace qkv::nn {

class Optimizer {
 public:
  explicit Optimizer(NamedTensors params, double lr);
  virtual ~Optimizer() = default;
  virtual void step() = 0;  // one update from the current .grad of every parameter (missing grads skip)
  void zero_grad();         // drops every parameter's .grad
  double lr;                // read by step(); schedules set it
  const NamedTensors& params() const { return params_; }
  // The state to checkpoint, as named tensors ("exp_avg.encoder.embedding.weight", "step"), and back.
  virtual NamedTensors state() const = 0;
  // Throws unless state (named as state() names it, say from a checkpoint) holds values this optimizer
  // can resume from. load_checkpoint calls it before copying anything. The default accepts any numbers.
  virtual void check_state(const NamedTensors& state) const { (void)state; }

 protected:
  NamedTensors params_;
};

class SGD : public Optimizer {
 public:
  SGD(NamedTensors params, double lr, double momentum = 0, double weight_decay = 0, bool nesterov = false);
  void step() override;
  NamedTensors state() const override;

 private:
  double momentum_, weight_decay_;
  bool nesterov_;
  std::vector<Tensor> buf_;  // momentum buffers (none without momentum)
};

// Some parameters with their own weight decay (PyTorch: {"params": [...], "weight_decay": 0.1}).
struct ParamGroup {
  NamedTensors params;
  double weight_decay = 0;
};
// nanoGPT's split: parameters of dim >= 2 (weight matrices, embedding tables) decay by weight_decay,
// the rest (biases, norm gains) not at all. Groups in that order; an empty group is left out.
std::vector<ParamGroup> decay_matrices_only(const NamedTensors& params, double weight_decay);

struct Schedule;

class Adam : public Optimizer {
 public:
  Adam(NamedTensors params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
       double weight_decay = 0, bool decoupled_weight_decay = false);
  // Each group with its own weight decay; the state names its parameters as one list would.
  Adam(std::vector<ParamGroup> groups, double lr, double beta1, double beta2, double eps,
       bool decoupled_weight_decay);
  void step() override;
  NamedTensors state() const override;
  void check_state(const NamedTensors& state) const override;  // step whole >= 0, exp_avg_sq >= 0
  int64_t steps_taken() const { return int64_t(step_.item()); }
  // From now on step() first sets lr = schedule.lr_at(steps_taken()): the step count is in the state, so a
  // resumed run continues the schedule where it stopped. Checks the schedule (validate below).
  void set_schedule(const Schedule& schedule);

 private:
  double beta1_, beta2_, eps_;
  std::vector<double> weight_decay_;  // one per parameter
  std::shared_ptr<const Schedule> schedule_;
  bool decoupled_;
  std::vector<Tensor> m_, v_;  // first and second moments, one per parameter
  Tensor step_;                // 0-d step count, a tensor so it checkpoints with the moments
};

// AdamW: Adam with decoupled weight decay (PyTorch's default weight_decay for AdamW is 0.01).
class AdamW : public Adam {
 public:
  AdamW(NamedTensors params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
        double weight_decay = 0.01)
      : Adam(std::move(params), lr, beta1, beta2, eps, weight_decay, /*decoupled=*/true) {}
  AdamW(std::vector<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8)
      : Adam(std::move(groups), lr, beta1, beta2, eps, /*decoupled=*/true) {}
};

// Scales all gradients together so their global L2 norm is at most max_norm; returns the norm before
// (PyTorch: torch.nn.utils.clip_grad_norm_). params are named as the optimizers take them (opt.params(),
// model.named_parameters()); parameters without a gradient are skipped. A NaN or inf norm throws, naming
// the first parameter whose gradient is not finite, and scales nothing; with error_if_nonfinite = false
// it is returned and the gradients are left as they are.
float clip_grad_norm(const NamedTensors& params, double max_norm, bool error_if_nonfinite = true);

// Learning rate at a step (0-based): linear warmup from 0 over warmup steps, then
//   constant: base_lr;  cosine: down to min_lr at total_steps;  inverse_sqrt: base_lr sqrt(warmup / step)
struct Schedule {
  enum Kind { constant, cosine, inverse_sqrt };
  Kind kind = constant;
  double base_lr = 1e-3;
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;  // cosine only
  double min_lr = 0;        // cosine only
  double lr_at(int64_t step) const;
};
// Throws "Schedule: ..." naming the value unless base_lr and min_lr are finite and >= 0, the step counts
// >= 0, and a cosine schedule has min_lr <= base_lr and total_steps >= warmup_steps.
void validate(const Schedule& schedule);

}  // namespace qkv::nn
