// Optimizers, clipping and schedules (see optim.h). The updates are plain loops over each parameter's
// numbers, under no graph: an optimizer step is not part of what backward differentiates.
#include "nn/optim.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/adam.h"
#include "tensor/checks.h"
#include "tensor/creation.h"
#include "tensor/parallel.h"
#include "tensor/reduce.h"
#include "tensor/value_text.h"

namespace qkv::nn {

Optimizer::Optimizer(NamedTensors params, double lr_)
    : lr(check::non_negative_number("Optimizer", "lr", lr_)), params_(std::move(params)) {
  for (const auto& [name, p] : params_)
    if (!p.requires_grad()) fail("Optimizer", "parameter '" + name + "' does not require grad");
}

void Optimizer::zero_grad() {
  for (const auto& [name, p] : params_) p.zero_grad();
}

// ---- SGD ----
SGD::SGD(NamedTensors params, double lr, double momentum, double weight_decay, bool nesterov)
    : Optimizer(std::move(params), lr),
      momentum_(check::fraction("SGD", "momentum", momentum)),
      weight_decay_(check::non_negative_number("SGD", "weight_decay", weight_decay)),
      nesterov_(nesterov) {
  if (nesterov && momentum == 0) fail("SGD", "nesterov needs a momentum > 0, got 0");
  // Zero buffers make the first step's buf = g, PyTorch's rule, and give the state a fixed shape to save.
  if (momentum_ != 0)
    for (const auto& [name, p] : params_) buf_.push_back(zeros(p.shape()));
}

void SGD::step() {
  check::non_negative_number("SGD", "lr", lr);  // a schedule or a caller may have set it since
  // each constant rounded to float once, as PyTorch's kernels take a Python float
  const auto lr_f = float(lr), momentum = float(momentum_), weight_decay = float(weight_decay_);
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor p = params_[i].second;
    const Tensor grad = p.grad();
    if (!grad.defined()) continue;
    float* w = p.mutable_data();
    float* buf = momentum_ != 0 ? buf_[i].mutable_data() : nullptr;
    const float* g = grad.data();
    for (int64_t j = 0; j < p.numel(); ++j) {
      float d = g[j] + weight_decay * w[j];
      if (buf) {
        buf[j] = momentum * buf[j] + d;
        d = nesterov_ ? d + momentum * buf[j] : buf[j];
      }
      w[j] -= lr_f * d;
    }
  }
}

NamedTensors SGD::state() const {
  NamedTensors s;
  for (size_t i = 0; i < buf_.size(); ++i) s.emplace_back("momentum_buffer." + params_[i].first, buf_[i]);
  return s;
}

// ---- Adam / AdamW ----
Adam::Adam(NamedTensors params, double lr, double beta1, double beta2, double eps, double weight_decay,
           bool decoupled)
    : Adam(std::vector<ParamGroup>{ParamGroup{std::move(params), weight_decay}}, lr, beta1, beta2, eps,
           decoupled) {}

// All groups' parameters in one list, in order.
static NamedTensors joined(const std::vector<ParamGroup>& groups) {
  NamedTensors all;
  for (const ParamGroup& g : groups) all.insert(all.end(), g.params.begin(), g.params.end());
  return all;
}

Adam::Adam(std::vector<ParamGroup> groups, double lr, double beta1, double beta2, double eps, bool decoupled)
    : Optimizer(joined(groups), lr),
      beta1_(check::fraction("Adam", "beta1", beta1)),
      beta2_(check::fraction("Adam", "beta2", beta2)),   // 1 would divide by 1 - beta2^t = 0
      eps_(check::positive_number("Adam", "eps", eps)),  // 0 would divide 0 by 0 where a gradient is 0
      decoupled_(decoupled),
      step_(scalar(0)) {
  for (const ParamGroup& g : groups) {
    check::non_negative_number("Adam", "weight_decay", g.weight_decay);
    weight_decay_.insert(weight_decay_.end(), g.params.size(), g.weight_decay);
  }
  for (const auto& [name, p] : params_) {
    m_.push_back(zeros(p.shape()));
    v_.push_back(zeros(p.shape()));
  }
}

std::vector<ParamGroup> decay_matrices_only(const NamedTensors& params, double weight_decay) {
  check::non_negative_number("decay_matrices_only", "weight_decay", weight_decay);
  ParamGroup decay{{}, weight_decay}, no_decay{{}, 0};
  for (const auto& named : params) (named.second.dim() >= 2 ? decay : no_decay).params.push_back(named);
  std::vector<ParamGroup> groups;
  for (ParamGroup* g : {&decay, &no_decay})
    if (!g->params.empty()) groups.push_back(std::move(*g));
  return groups;
}

void Adam::set_schedule(const Schedule& schedule) {
  validate(schedule);
  schedule_ = std::make_shared<const Schedule>(schedule);
}

namespace {

// About 16k elements (tens of microseconds) per thread: below that, waking a thread costs more than it saves.
constexpr int64_t kElementsPerThread = int64_t{1} << 14;

}  // namespace

void Adam::step() {
  if (schedule_) lr = schedule_->lr_at(steps_taken());
  check::non_negative_number("Adam", "lr", lr);  // a schedule or a caller may have set it since
  const float t = step_.item() + 1;
  step_.mutable_data()[0] = t;
  // bias corrections for moments that started at zero
  const double c1 = 1 - std::pow(beta1_, double(t)), c2 = 1 - std::pow(beta2_, double(t));
  // The constants of a parameter with weight decay wd (only the decay differs between groups).
  auto constants = [&](double wd) {
    return kernels::AdamConstants{float(beta1_),      float(1 - beta1_), float(beta2_),
                                  float(1 - beta2_),  float(eps_),       float(wd),
                                  float(1 - lr * wd), float(lr / c1),    float(std::sqrt(c2))};
  };
  // Every parameter's elements, end to end, as one index range: one parallel_for for the whole step (a
  // model has dozens of small parameters; one parallel_for each would mostly wait for threads).
  struct Slot {
    float *w, *m, *v;
    const float* g;
    int64_t first;  // where this parameter starts in the joint range
    kernels::AdamConstants k;
  };
  std::vector<Slot> slots;
  int64_t total = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor p = params_[i].second;
    const Tensor grad = p.grad();
    if (!grad.defined()) continue;
    slots.push_back({p.mutable_data(), m_[i].mutable_data(), v_[i].mutable_data(), grad.data(), total,
                     constants(weight_decay_[i])});
    total += p.numel();
  }
  // Each element is updated on its own, so threads split the elements: the same bits for any count.
  parallel_for(total, kElementsPerThread, [&](int64_t begin, int64_t end) {
    for (size_t s = 0; s < slots.size(); ++s) {
      const int64_t first = slots[s].first, last = s + 1 < slots.size() ? slots[s + 1].first : total;
      const int64_t lo = std::max(begin, first), hi = std::min(end, last);
      if (lo < hi)
        kernels::adam_update(slots[s].w, slots[s].m, slots[s].v, slots[s].g, lo - first, hi - first,
                             slots[s].k, decoupled_);
    }
  });
}

NamedTensors Adam::state() const {
  NamedTensors s{{"step", step_}};
  for (size_t i = 0; i < params_.size(); ++i) {
    s.emplace_back("exp_avg." + params_[i].first, m_[i]);
    s.emplace_back("exp_avg_sq." + params_[i].first, v_[i]);
  }
  return s;
}

void Adam::check_state(const NamedTensors& state) const {
  // A negative step would flip the bias corrections' sign; a negative mean of squares has no square root.
  for (const auto& [name, t] : state) {
    const std::string op = "Adam state " + quote(name);
    const bool is_step = name == "step", is_square = name.rfind("exp_avg_sq.", 0) == 0;
    for (int64_t i = 0; i < t.numel() && (is_step || is_square); ++i) {
      if (is_step) check::whole_non_negative(op.c_str(), "the step count", t.data()[i]);
      if (is_square) check::non_negative_number(op.c_str(), "every entry", t.data()[i]);
    }
  }
}

// ---- clipping ----
// Where a NaN or inf norm comes from, for its error: "the gradient of "b" holds nan at index 1".
static std::string first_non_finite_gradient(const NamedTensors& params) {
  for (const auto& [name, p] : params) {
    const Tensor g = p.grad();
    const float* v = g.defined() ? g.data() : nullptr;
    const float* bad =
        v ? std::find_if(v, v + g.numel(), [](float x) { return !std::isfinite(x); }) : nullptr;
    if (v && bad != v + g.numel())
      return "the gradient of " + quote(name) + " holds " + kernels::value_text(*bad) + " at index " +
             std::to_string(bad - v);
  }
  return "every gradient is finite, but the norm overflows float";
}

float clip_grad_norm(const NamedTensors& params, double max_norm, bool error_if_nonfinite) {
  check::positive_number("clip_grad_norm", "max_norm", max_norm);
  double sq = 0;  // each parameter's squares summed by a vector loop (a serial sum was a chain of adds)
  for (const auto& [name, p] : params)
    if (p.grad().defined()) sq += kernels::sum_of_squares(p.grad());
  const float norm = float(std::sqrt(sq));
  if (!std::isfinite(norm)) {
    if (!error_if_nonfinite) return norm;  // scaling by max_norm / NaN would only spread the NaN
    // scaling by it would turn every gradient to NaN or 0 and hide the cause: name where it starts
    fail("clip_grad_norm", "the total norm of the gradients is " + kernels::value_text(norm) + ": " +
                               first_non_finite_gradient(params) +
                               " (error_if_nonfinite = false returns the norm and scales nothing)");
  }
  if (norm > max_norm) {
    const auto scale = float(max_norm / (double(norm) + 1e-6));  // PyTorch's guard against dividing by ~0
    for (const auto& [name, p] : params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      float* d = g.mutable_data();
      const int64_t n = g.numel();
      for (int64_t j = 0; j < n; ++j) d[j] *= scale;
    }
  }
  return norm;
}

// ---- schedules ----
void validate(const Schedule& s) {
  check::non_negative_number("Schedule", "base_lr", s.base_lr);
  check::non_negative_number("Schedule", "min_lr", s.min_lr);
  check::non_negative("Schedule", "warmup_steps", s.warmup_steps);
  check::non_negative("Schedule", "total_steps", s.total_steps);
  if (s.kind != Schedule::constant && s.kind != Schedule::cosine && s.kind != Schedule::inverse_sqrt)
    fail("Schedule", "kind must be constant, cosine or inverse_sqrt, got " + std::to_string(int(s.kind)));
  if (s.kind == Schedule::cosine && s.min_lr > s.base_lr)
    fail("Schedule", "min_lr must be <= base_lr, got min_lr " + kernels::value_text(s.min_lr) +
                         " and base_lr " + kernels::value_text(s.base_lr));
  if (s.kind == Schedule::cosine && s.total_steps < s.warmup_steps)
    fail("Schedule", "total_steps must be >= warmup_steps, got total_steps " + std::to_string(s.total_steps) +
                         " and warmup_steps " + std::to_string(s.warmup_steps));
}

double Schedule::lr_at(int64_t step) const {
  check::non_negative("Schedule", "step", step);
  check::non_negative_number("Schedule", "base_lr", base_lr);
  check::non_negative_number("Schedule", "min_lr", min_lr);
  check::non_negative("Schedule", "warmup_steps", warmup_steps);
  check::non_negative("Schedule", "total_steps", total_steps);
  if (warmup_steps > 0 && step < warmup_steps) return base_lr * double(step + 1) / double(warmup_steps);
  switch (kind) {
    case constant:
      return base_lr;
    case inverse_sqrt:
      return base_lr *
             std::sqrt(double(std::max<int64_t>(warmup_steps, 1)) / double(std::max<int64_t>(step, 1)));
    case cosine: {
      if (total_steps <= warmup_steps) return min_lr;
      const double progress = std::min(1.0, double(step - warmup_steps) / double(total_steps - warmup_steps));
      return min_lr + 0.5 * (base_lr - min_lr) * (1 + std::cos(M_PI * progress));
    }
  }
  return base_lr;
}

}  // namespace qkv::nn
