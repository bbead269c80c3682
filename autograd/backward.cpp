// The backward engine: record() builds nodes as ops run; Tensor::backward() walks them from the output
// back to the leaves in topological order, without recursion, summing the gradients that meet at a node.
#include <unordered_map>
#include <unordered_set>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/profiler.h"
#include "tensor/elementwise.h"

namespace qkv {

// ---- grad mode ----
static thread_local bool grad_enabled = true;
bool is_grad_enabled() { return grad_enabled; }
NoGrad::NoGrad() : previous_(grad_enabled) { grad_enabled = false; }
NoGrad::~NoGrad() { grad_enabled = previous_; }

// ---- nodes ----
Node::Node(std::string name, std::vector<Edge> edges, std::vector<Shape> input_shapes,
           std::vector<Tensor> saved, BackwardFn backward)
    : name_(std::move(name)),
      edges_(std::move(edges)),
      input_shapes_(std::move(input_shapes)),
      saved_(std::move(saved)),
      backward_(std::move(backward)) {
  for (const Edge& e : edges_) needs_grad_.push_back(e.needs_grad());
  for (Tensor& t : saved_) {  // (an optional operand, such as a missing bias, may be undefined)
    saved_versions_.push_back(t.defined() ? t.version() : 0);
    if (t.defined()) t = t.detach();  // a saved tensor never points back into the graph
  }
}

// Dropping the last owner of a chain of 100,000 nodes would recurse 100,000 deep through the edges.
// Instead, the edges of every node about to die go onto a local stack that a loop unwinds.
void Node::drop_edges(std::vector<Edge>& edges) {
  std::vector<std::shared_ptr<Node>> dying;
  for (Edge& e : edges)
    if (e.node) dying.push_back(std::move(e.node));
  edges.clear();
  while (!dying.empty()) {
    std::shared_ptr<Node> node = std::move(dying.back());
    dying.pop_back();
    if (node.use_count() == 1)  // we hold the last reference: take its edges before it goes
      for (Edge& e : node->edges_)
        if (e.node) dying.push_back(std::move(e.node));
  }
}

Node::~Node() { drop_edges(edges_); }

std::vector<Tensor> Node::apply(const Tensor& grad) {
  if (released_)
    fail("backward", "the graph through '" + name_ +
                         "' was already freed by an earlier backward; call backward(/*retain_graph=*/true) "
                         "the first time to run backward twice");
  for (size_t i = 0; i < saved_.size(); ++i)
    if (saved_[i].defined() && saved_[i].version() != saved_versions_[i])
      fail("backward", "a tensor of shape " + to_string(saved_[i].shape()) + " saved by '" + name_ +
                           "' was modified in place after it was saved (version " +
                           std::to_string(saved_[i].version()) + ", saved at " +
                           std::to_string(saved_versions_[i]) + "); modify a clone() instead");
  std::vector<Tensor> grads = backward_(grad, BackwardContext{saved_, needs_grad_});
  if (grads.size() != edges_.size())
    fail("backward", "'" + name_ + "' returned " + std::to_string(grads.size()) + " gradients for " +
                         std::to_string(edges_.size()) + " inputs");
  for (size_t i = 0; i < grads.size(); ++i)
    if (needs_grad_[i] && grads[i].defined() && grads[i].shape() != input_shapes_[i])
      fail("backward", "'" + name_ + "' returned a gradient of shape " + to_string(grads[i].shape()) +
                           " for input " + std::to_string(i) + " of shape " + to_string(input_shapes_[i]));
  return grads;
}

void Node::release() {
  released_ = true;
  saved_.clear();
  backward_ = nullptr;
  drop_edges(edges_);
}

Tensor record(const char* name, Tensor out, const std::vector<Tensor>& inputs, std::vector<Tensor> saved,
              BackwardFn backward) {
  if (profiler::hooked()) profiler::op_done(name, inputs, out);  // the op's kernel has just run
  if (!is_grad_enabled()) return out;
  bool any = false;
  std::vector<Edge> edges;
  std::vector<Shape> shapes;
  for (const Tensor& in : inputs) {
    Edge e;
    if (in.defined() && in.requires_grad()) {
      any = true;
      if (in.grad_fn())
        e.node = in.grad_fn();
      else
        e.leaf = in;
    }
    edges.push_back(std::move(e));
    shapes.push_back(in.defined() ? in.shape() : Shape{});
  }
  if (!any) return out;
  auto node = std::make_shared<Node>(name, std::move(edges), std::move(shapes), std::move(saved),
                                     std::move(backward));
  out.set_requires_grad(true);
  out.set_grad_fn(std::move(node));
  return out;
}

// ---- the engine ----
namespace {

// Leaves keep their gradient across backward calls and add to it (PyTorch semantics). The first
// gradient becomes the leaf's: taken over when nothing else holds it (the usual case, a fresh result of
// a backward function), else copied, because it may be shared (add's backward passes one grad to both
// inputs) and later additions into the leaf's gradient must not change the other holder's.
void accumulate_into_leaf(const Tensor& leaf, Tensor grad) {
  Tensor current = leaf.grad();
  if (!current.defined()) {
    leaf.set_grad(grad.is_sole_owner() ? grad : grad.clone());  // ours once this call returns
  } else {
    kernels::add_(current, grad);
  }
}

// Nodes reachable from root, each after every node that feeds it a gradient (root first).
std::vector<std::shared_ptr<Node>> topological_order(const std::shared_ptr<Node>& root) {
  std::vector<std::shared_ptr<Node>> post_order;
  std::unordered_set<Node*> visited{root.get()};
  // Explicit stack of (node, next edge to look at): a depth-first search without recursion.
  std::vector<std::pair<std::shared_ptr<Node>, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->edges().size()) {
      const auto& child = node->edges()[next++].node;
      if (child && visited.insert(child.get()).second) stack.emplace_back(child, 0);
    } else {
      post_order.push_back(node);
      stack.pop_back();
    }
  }
  return {post_order.rbegin(), post_order.rend()};
}

void run_backward(const Tensor& root, const Tensor& grad_output, bool retain_graph) {
  if (!root.is_leaf() && root.grad_fn()->released())
    root.grad_fn()->apply(grad_output);  // throws the "already freed" error
  if (root.is_leaf()) return accumulate_into_leaf(root, grad_output);

  NoGrad no_grad;  // backward computes plain numbers; it records nothing
  std::unordered_map<Node*, Tensor> pending{{root.grad_fn().get(), grad_output}};
  for (const std::shared_ptr<Node>& node : topological_order(root.grad_fn())) {
    auto it = pending.find(node.get());
    if (it == pending.end()) continue;  // no gradient reached this node (e.g. every path was undefined)
    Tensor grad = std::move(it->second);
    pending.erase(it);
    const auto started =
        profiler::enabled() ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    std::vector<Tensor> grads = node->apply(grad);
    const auto applied = profiler::enabled() ? std::chrono::steady_clock::now() : started;
    for (size_t i = 0; i < grads.size(); ++i) {
      const Edge& e = node->edges()[i];
      if (!grads[i].defined() || !e.needs_grad()) continue;
      if (e.leaf.defined()) {
        accumulate_into_leaf(e.leaf, std::move(grads[i]));
      } else {
        Tensor& slot = pending[e.node.get()];
        slot = slot.defined() ? kernels::add(slot, grads[i]) : grads[i];
      }
    }
    if (profiler::enabled()) {  // the node's backward, then the sums its gradients went into
      const auto done = std::chrono::steady_clock::now();
      profiler::backward_took(node->name(), std::chrono::duration<double>(applied - started).count());
      profiler::backward_took("accumulate_grad", std::chrono::duration<double>(done - applied).count());
    }
    if (!retain_graph) node->release();
  }
}

}  // namespace

void Tensor::backward(bool retain_graph) const {
  if (!requires_grad())
    fail("backward", "this tensor of shape " + to_string(shape()) +
                         " does not require grad: no input of the ops that made it had requires_grad set");
  if (numel() != 1)
    fail("backward", "a gradient can be implied only for a one-element output, but the shape is " +
                         to_string(shape()) + "; call backward(grad_output) with a gradient of that shape");
  backward(Tensor(shape(), 1.0f), retain_graph);
}

void Tensor::backward(const Tensor& grad_output, bool retain_graph) const {
  if (!requires_grad())
    fail("backward", "this tensor of shape " + to_string(shape()) +
                         " does not require grad: no input of the ops that made it had requires_grad set");
  if (!grad_output.defined() || grad_output.shape() != shape())
    fail("backward", "grad_output of shape " +
                         (grad_output.defined() ? to_string(grad_output.shape()) : "undefined") +
                         " does not match the output's shape " + to_string(shape()));
  run_backward(*this, grad_output, retain_graph);
}

}  // namespace qkv
