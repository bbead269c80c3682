// Tensor: storage, shape, element access and printing (see tensor.h). The autograd members that need
// the graph (backward) are in autograd/backward.cpp.
#include "tensor/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <new>
#include <ostream>
#include <sstream>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>  // sysconf
#endif

namespace qkv {
namespace {

// A training step frees and allocates the same few hundred tensors every step. glibc's defaults give large
// blocks straight back to the kernel (munmap, or trimming the heap top) and take them again next step, and
// each new page is then zeroed by a page fault: 6-8% of a step. Keeping freed memory in the process removes
// that; the heap then stays at its peak size, as PyTorch's caching allocators do on purpose.
void keep_freed_memory() {
#if defined(__GLIBC__)
  static const bool once = [] {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);  // blocks up to 32 MiB come from the heap, not from mmap
    mallopt(M_TRIM_THRESHOLD, 1 << 30);   // and the heap top is not given back below 1 GiB free
    return true;
  }();
  (void)once;
#endif
}

// "4.0 TiB": a byte count as an error message shows it.
std::string bytes_text(double bytes) {
  const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int unit = 0;
  for (; bytes >= 1024 && unit < 6; ++unit) bytes /= 1024;
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
  return text;
}

// The machine's memory in bytes, or 0 where it cannot be asked. A request beyond it is refused up front:
// with Linux's overcommit (or under AddressSanitizer) a huge request may not fail cleanly where it is made,
// but later, by the OOM killer or an abort.
double physical_memory_bytes() {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
  const long pages = sysconf(_SC_PHYS_PAGES), page_bytes = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_bytes > 0) return double(pages) * double(page_bytes);
#endif
  return 0;
}

constexpr size_t kLine = 64;  // Storage's alignment (tensor.h)

// Every tensor's storage is made here: the element count checked (qkv::numel), then the memory asked for,
// and a refusal of either is a qkv::Error naming the op: "zeros: cannot allocate [1099511627776] (4.0 TiB)".
std::shared_ptr<Storage> allocate_storage(const char* op, const Shape& shape) {
  keep_freed_memory();
  const int64_t n = qkv::numel(shape, op);
  const double bytes = double(n) * sizeof(float), memory = physical_memory_bytes();
  const auto refuse = [&](const std::string& why) {
    fail(op, "cannot allocate " + to_string(shape) + " (" + bytes_text(bytes) + ")" + why);
  };
  if (memory > 0 && bytes > memory) refuse(": more than the machine's memory (" + bytes_text(memory) + ")");
  auto storage = std::make_shared<Storage>();
  storage->size = n;
  // not value-initialised (see Storage); the block, rounded up to a line, keeps its own address in the 8
  // bytes before the values (operator new aligns to 16, so the gap is 16 bytes or more)
  void* block = ::operator new(static_cast<size_t>(n) * sizeof(float) + kLine, std::nothrow);
  if (!block) refuse("");
  const auto start = (reinterpret_cast<uintptr_t>(block) + kLine) & ~uintptr_t{kLine - 1};
  reinterpret_cast<void**>(start)[-1] = block;
  storage->values.reset(reinterpret_cast<float*>(start));
  return storage;
}

// The shape, once checked to hold exactly `count` values.
const Shape& shape_holding(const char* op, const Shape& shape, size_t count) {
  const int64_t n = qkv::numel(shape, op);
  if (static_cast<int64_t>(count) != n)
    fail(op, std::to_string(count) + " values do not fill shape " + to_string(shape) + " (" +
                 std::to_string(n) + " elements)");
  return shape;
}

}  // namespace

// The block allocate_storage took, whose address it left just before the values.
void StorageDelete::operator()(float* p) const {
  if (p) ::operator delete(reinterpret_cast<void**>(p)[-1]);
}

Tensor Tensor::empty(const Shape& shape, const char* op) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = allocate_storage(op, shape);
  impl->shape = shape;
  return Tensor(std::move(impl));
}

Tensor::Tensor(Shape shape, float fill, const char* op) : Tensor(empty(shape, op)) {
  std::fill_n(impl_->storage->values.get(), impl_->storage->size, fill);
}

// The count is checked before empty() asks for memory, so a wrong shape costs no allocation.
Tensor::Tensor(Shape shape, std::vector<float> values, const char* op)
    : Tensor(empty(shape_holding(op, shape, values.size()), op)) {
  std::copy(values.begin(), values.end(), impl_->storage->values.get());
}

const TensorImpl& Tensor::checked(const char* what) const {
  if (!impl_) fail(what, "the tensor is undefined (default-constructed)");
  return *impl_;
}

const Shape& Tensor::shape() const { return checked("shape").shape; }
int64_t Tensor::numel() const { return qkv::numel(shape()); }
int64_t Tensor::size(int64_t d) const { return shape()[normalize_dim("size", d, shape())]; }
const float* Tensor::data() const { return checked("data").storage->values.get(); }

float* Tensor::mutable_data() {
  auto& storage = *checked("mutable_data").storage;
  ++storage.version;
  return storage.values.get();
}

std::vector<float> Tensor::to_vector() const {
  const Storage& storage = *checked("to_vector").storage;
  return std::vector<float>(storage.values.get(), storage.values.get() + storage.size);
}
uint64_t Tensor::version() const { return checked("version").storage->version; }

float Tensor::item() const {
  if (numel() != 1) fail("item", "needs exactly one element, got shape " + to_string(shape()));
  return data()[0];
}

// Row-major offset of a full index, checking rank and bounds.
static int64_t offset_of(const char* op, const Shape& shape, std::initializer_list<int64_t> index) {
  if (index.size() != shape.size())
    fail(op, std::to_string(index.size()) + " indices for shape " + to_string(shape));
  int64_t offset = 0, d = 0;
  for (int64_t i : index) {
    if (i < 0 || i >= shape[d])
      fail(op, "index " + std::to_string(i) + " out of range for dim " + std::to_string(d) + " of shape " +
                   to_string(shape));
    offset = offset * shape[d++] + i;
  }
  return offset;
}

float Tensor::at(std::initializer_list<int64_t> index) const {
  return data()[offset_of("at", shape(), index)];
}

void Tensor::set(std::initializer_list<int64_t> index, float value) {
  mutable_data()[offset_of("set", shape(), index)] = value;
}

Tensor Tensor::view(Shape new_shape) const {
  if (qkv::numel(new_shape, "view") != numel())
    fail("view", "cannot view shape " + to_string(shape()) + " as " + to_string(new_shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = checked("view").storage;
  impl->shape = std::move(new_shape);
  return Tensor(std::move(impl));
}

Tensor Tensor::clone() const {
  Tensor copy = empty(shape());
  std::copy_n(data(), numel(), copy.impl_->storage->values.get());
  return copy;
}

bool Tensor::shares_storage_with(const Tensor& other) const {
  return impl_ && other.impl_ && impl_->storage == other.impl_->storage;
}

bool Tensor::is_sole_owner() const {
  return impl_ && impl_.use_count() == 1 && impl_->storage.use_count() == 1;
}

// ---- autograd slot: plain accessors; the graph logic is in autograd/ ----
bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }

Tensor& Tensor::set_requires_grad(bool on) {
  auto& impl = const_cast<TensorImpl&>(checked("set_requires_grad"));
  if (impl.grad_fn && !on)
    fail("set_requires_grad", "cannot turn off requires_grad on a non-leaf tensor; use detach()");
  impl.requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return checked("grad").grad; }

void Tensor::set_grad(const Tensor& grad) const {
  if (grad.defined() && grad.shape() != shape())
    fail("set_grad",
         "gradient of shape " + to_string(grad.shape()) + " for tensor of shape " + to_string(shape()));
  const_cast<TensorImpl&>(checked("set_grad")).grad = grad;
}

void Tensor::zero_grad() const { const_cast<TensorImpl&>(checked("zero_grad")).grad = Tensor(); }
const std::shared_ptr<Node>& Tensor::grad_fn() const { return checked("grad_fn").grad_fn; }
void Tensor::set_grad_fn(std::shared_ptr<Node> node) const {
  const_cast<TensorImpl&>(checked("set_grad_fn")).grad_fn = std::move(node);
}

Tensor Tensor::detach() const { return view(shape()); }

// ---- printing, in PyTorch's layout: tensor([[1.0000, 2.0000], [...]], shape=[2,2]) ----
namespace {

struct Printer {
  const Tensor& t;
  std::ostream& os;
  int64_t edge;  // when a dim is longer than 2*edge, only its first and last `edge` entries print

  void value(float v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, std::fabs(v) >= 1e5f || (v != 0 && std::fabs(v) < 1e-4f) ? "%.4e" : "%.4f",
                  v);
    os << buf;
  }
  void dim(int64_t d, int64_t offset, int indent) {
    const Shape& s = t.shape();
    const int64_t n = s[d], inner = numel(Shape(s.begin() + d + 1, s.end()));
    os << '[';
    for (int64_t i = 0; i < n; ++i) {
      if (edge > 0 && n > 2 * edge && i == edge) {
        os << "...";
        i = n - edge - 1;
        os << (d + 1 == t.dim() ? ", " : ",\n" + std::string(indent + 1, ' '));
        continue;
      }
      if (d + 1 == t.dim())
        value(t.data()[offset + i]);
      else
        dim(d + 1, offset + i * inner, indent + 1);
      if (i + 1 < n) os << (d + 1 == t.dim() ? ", " : ",\n" + std::string(indent + 1, ' '));
    }
    os << ']';
  }
};

}  // namespace

std::string Tensor::str() const {
  std::ostringstream os;
  os << *this;
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  os << "tensor(";
  if (t.dim() == 0) {
    Printer{t, os, 0}.value(t.item());
  } else {
    Printer{t, os, t.numel() > 1000 ? 3 : 0}.dim(0, 0, 7);
  }
  os << ", shape=" << to_string(t.shape());
  if (t.requires_grad()) os << ", requires_grad=true";
  return os << ')';
}

}  // namespace qkv
