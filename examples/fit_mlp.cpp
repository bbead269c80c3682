// fit_mlp: autograd on its own, micrograd-sized. A two-layer perceptron learns y = sin(x) on [-3, 3]
// with plain gradient descent, written out by hand: forward, loss, zero the gradients, backward, update.
// No nn/ modules: just tensors that require grad and the differentiable ops of autograd/ops.h.
// --graph FILE.svg draws the graph of the last step (FILE.dot: Graphviz DOT), with each small leaf's value
// and gradient (--hidden 2 makes every leaf small); --graph-of attention draws one multi-head
// self-attention instead (one fused node), attention_composed the same built from matmul, scale, mask,
// softmax, dropout and matmul (nn/attention.h), as the course builds it.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>

#include "autograd/graph_dot.h"
#include "autograd/ops.h"
#include "nn/multi_head_attention.h"
#include "support/cli.h"
#include "support/graph_svg.h"
#include "support/svg.h"

using namespace qkv;

namespace {

// Writes the graph behind root to path: DOT if it ends in .dot, else the SVG drawing.
void write_graph(const std::string& path, const Tensor& root, const NamedTensors& names,
                 const std::string& title) {
  const bool dot = path.size() >= 4 && path.compare(path.size() - 4, 4, ".dot") == 0;
  const GraphView graph = graph_of(root, names);
  plot::write_file(path, dot ? to_dot(graph) : plot::graph_svg(graph, title));
  std::printf("graph of %zu vertices -> %s\n", graph.vertices.size(), path.c_str());
}

// One causal multi-head self-attention on X [1,4,8] with 2 heads, then loss = sum(Y * Y). Fused: the
// module's forward (one node for all heads); composed: the course's steps, one node each.
void draw_attention(const std::string& path, bool composed) {
  nn::MultiHeadAttention attention(/*num_hiddens=*/8, /*num_heads=*/2, /*dropout=*/0.1f);
  NamedTensors names;
  for (auto& [name, t] : attention.named_parameters()) names.emplace_back("attention." + name, t);
  const Tensor X = randn({1, 4, 8}).set_requires_grad();
  names.emplace_back("X", X);
  Tensor Y;
  if (!composed) {
    Y = attention.forward(X, X, X, nn::Mask::causal());
  } else {  // split heads: [1,4,8] -> [1,2,4,4]; scores, mask, softmax, dropout, weighted sum; merge
    const Tensor q = nn::split_heads(attention.W_q->forward(X), 2),
                 k = nn::split_heads(attention.W_k->forward(X), 2),
                 v = nn::split_heads(attention.W_v->forward(X), 2);
    const nn::AttentionResult r = nn::scaled_dot_product_attention(q, k, v, nn::Mask::causal(), 0.1f, true);
    Y = attention.W_o->forward(nn::merge_heads(r.output));
  }
  write_graph(
      path, sum(Y * Y), names,
      composed ? "multi-head attention, composed from primitives" : "multi-head attention, one fused op");
}

}  // namespace

int main(int argc, char** argv) try {
  cli::Flags flags("fit_mlp", "Fit y = sin(x) with a two-layer perceptron and plain gradient descent.");
  flags.integer_option("steps", "2000", 1, 1'000'000, "gradient descent steps")
      .number_option("lr", "0.05", cli::Range::above(0, 10), "learning rate")
      .integer_option("seed", "0", 0, INT64_MAX, "seed of the initial weights")
      .integer_option("hidden", "16", 1, 4096, "hidden units")
      .option("graph", "", "draw the graph of the last step to this .svg (or .dot) file")
      .choice_option("graph-of", "mlp", {"mlp", "attention", "attention_composed"},
                     "with --graph: the MLP's graph, or one attention's (then stop)");
  if (!flags.parse(argc, argv)) return 0;
  manual_seed(uint64_t(flags.integer("seed")));
  const std::string graph_path = flags.str("graph");
  if (flags.given("graph-of") && graph_path.empty()) flags.refuse("--graph-of needs --graph FILE");
  if (flags.str("graph-of") != "mlp") {
    draw_attention(graph_path, flags.str("graph-of") == "attention_composed");
    return 0;
  }
  // Data: 64 points x [64,1] and targets y = sin(x) [64,1]
  const Tensor x = reshape(arange(-3.0f, 3.0f, 6.0f / 64), {64, 1});
  Tensor target({64, 1});
  for (int64_t i = 0; i < 64; ++i) target.set({i, 0}, std::sin(x.at({i, 0})));

  // Parameters: 1 -> h -> 1 with tanh (h = 16 by default), initialised small and random
  const int64_t h = flags.integer("hidden");
  Tensor w1 = randn({1, h}).set_requires_grad(), b1 = zeros({h}).set_requires_grad();
  Tensor w2 = (randn({h, 1}) * 0.25f).detach().set_requires_grad(), b2 = zeros({1}).set_requires_grad();
  const std::vector<Tensor> params = {w1, b1, w2, b2};

  const float lr = float(flags.number("lr"));
  const int64_t steps = flags.integer("steps");
  for (int64_t step = 0; step <= steps; ++step) {
    const Tensor hidden = tanh(matmul(x, w1) + b1);   // [64,1] @ [1,h] -> [64,h]
    const Tensor pred = matmul(hidden, w2) + b2;      // [64,h] @ [h,1] -> [64,1]
    const Tensor loss = mean(pow(pred - target, 2));  // mean squared error, 0-d
    for (const Tensor& p : params) p.zero_grad();
    const bool draw = step == steps && !graph_path.empty();
    loss.backward(/*retain_graph=*/draw);  // the last step's graph is drawn after its backward
    if (draw)
      write_graph(graph_path, loss, {{"w1", w1}, {"b1", b1}, {"w2", w2}, {"b2", b2}},
                  "fit_mlp: the last step");
    {
      NoGrad no_grad;  // the update itself is not part of the graph
      for (Tensor p : params) {
        const float* g = p.grad().data();
        float* w = p.mutable_data();
        for (int64_t i = 0; i < p.numel(); ++i) w[i] -= lr * g[i];  // p -= lr * dL/dp
      }
    }
    cli::check_loss(loss.item(), step);
    if (step % 200 == 0 || step == steps)
      std::printf("step %4lld  loss %.5f\n", (long long)step, loss.item());
  }
  return 0;
} catch (const std::exception& e) {
  return cli::report_error("fit_mlp", e);
}
