// Tensor: the one user-facing array type of qkv, as in PyTorch.
// float32, any rank (0-d scalars included), contiguous row-major storage. A Tensor is a cheap handle:
// copies share the same data. reshape()/detach() give new handles on the same storage; every other op
// (permute, transpose, slice, ...) copies. Ops are free functions: numbers-only kernels in tensor/
// (namespace qkv::kernels), differentiable ops in autograd/ (namespace qkv).
// The autograd slot (requires_grad, grad, grad_fn, backward) lives here so users see one type; its logic
// lives in autograd/, and nothing in tensor/ looks inside a Node.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/error.h"
#include "tensor/shape.h"

namespace qkv {

class Node;  // autograd/node.h: the op that produced a tensor, with its backward
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;  // undefined: no storage (defined() == false)
  // Every way of making a tensor asks for its memory in one place, which refuses a negative size, a shape
  // whose element count does not fit in int64, or memory that cannot be had with a qkv::Error naming `op`
  // (the creating function, for zeros() and friends): "zeros: cannot allocate [1099511627776] (4.0 TiB)".
  explicit Tensor(Shape shape, float fill = 0, const char* op = "Tensor");  // every element == fill
  // Throws unless values.size() == numel(shape).
  Tensor(Shape shape, std::vector<float> values, const char* op = "Tensor");
  // Uninitialised contents: for kernels that overwrite every element of their output, so a new tensor
  // costs no pass of zero-filling. Reading an element before writing it is a bug.
  static Tensor empty(const Shape& shape, const char* op = "Tensor");

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const;

  // Raw data, row-major. mutable_data() marks the storage as changed (see version()).
  const float* data() const;
  float* mutable_data();
  std::vector<float> to_vector() const;

  float item() const;                                    // the value of a one-element tensor
  float at(std::initializer_list<int64_t> index) const;  // bounds-checked element access
  void set(std::initializer_list<int64_t> index, float value);

  Tensor view(Shape shape) const;  // same storage, new shape of equal numel (no -1; see kernels::reshape)
  Tensor clone() const;            // a deep copy, detached from any graph
  bool shares_storage_with(const Tensor& other) const;
  // True when this Tensor object is the only handle on its data: no copy of it, no view, no saved copy
  // in a graph. Such a tensor can be taken over instead of copied (autograd's first leaf gradient).
  bool is_sole_owner() const;

  // Bumped by every write through mutable_data(); autograd compares it with the version it saved, so an
  // in-place change to a tensor needed by backward is an error instead of a silent wrong gradient.
  uint64_t version() const;

  std::string str() const;  // as PyTorch prints: values, then the shape

  // ---- autograd slot (the logic is in autograd/) ----
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on = true);  // PyTorch: requires_grad_(); only on leaves
  Tensor grad() const;                        // undefined until a backward reaches this leaf
  void set_grad(const Tensor& grad) const;
  void zero_grad() const;  // drops the gradient (as PyTorch's set_to_none)
  const std::shared_ptr<Node>& grad_fn() const;
  void set_grad_fn(std::shared_ptr<Node> node) const;
  bool is_leaf() const { return grad_fn() == nullptr; }
  Tensor detach() const;  // same storage, no graph, requires_grad false

  // Reverse-mode autodiff from this tensor (autograd/backward.cpp). Without grad_output the tensor must
  // hold one element; the graph is freed afterwards unless retain_graph is true.
  void backward(bool retain_graph = false) const;
  void backward(const Tensor& grad_output, bool retain_graph = false) const;

  TensorImpl* impl() const { return impl_.get(); }

 private:
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  const TensorImpl& checked(const char* what) const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// What a handle points at. Kept public so that a reader can see everything a tensor is.
// A plain array rather than a std::vector<float>, which would zero every new output before the kernel
// overwrites it anyway.
// Storage begins on a 64-byte boundary, a cache line: a row of a multiple of 16 floats then starts on a
// line, and a kernel's 64-byte vector stores (a GEMM tile's rows of C) each write one line instead of
// straddling two (a gpt training step 7% faster). The memory comes from operator new with 64 bytes to spare
// and the address is rounded up (aligned operator new costs more per call, and a step makes thousands of
// tensors): allocate_storage in tensor.cpp, released by StorageDelete.
struct StorageDelete {
  void operator()(float* p) const;
};
struct Storage {
  std::unique_ptr<float[], StorageDelete> values;  // 64-byte aligned
  int64_t size = 0;
  uint64_t version = 0;
};

// An ordered list of named tensors: a module's parameters under their dotted paths
// ("encoder.blocks.0.attention.W_q.weight"), an optimizer's state, a checkpoint's contents.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  bool requires_grad = false;
  Tensor grad;                    // accumulated by backward (leaves only)
  std::shared_ptr<Node> grad_fn;  // the op that made this tensor; null for leaves
};

}  // namespace qkv
