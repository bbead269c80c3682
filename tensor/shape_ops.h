// Shape ops. reshape/unsqueeze/squeeze share storage with their input (a new view of the same numbers);
// permute, transpose, slice, narrow, concat, stack and index_select copy into a new contiguous tensor.
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace qkv::kernels {

Tensor reshape(const Tensor& x, Shape shape);  // at most one -1, inferred; shares storage
Tensor unsqueeze(const Tensor& x, int64_t dim);  // insert a size-1 dim; dim in [-(rank+1), rank]
Tensor squeeze(const Tensor& x, int64_t dim);    // remove a size-1 dim (throws if its size is not 1)

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);  // out.shape[i] = x.shape[dims[i]]
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);

// Python-style slice along dim: start/end may be negative (from the end) and are clamped; step >= 1.
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
// length entries from start along dim; throws if [start, start+length) leaves the dim.
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);

Tensor concat(const std::vector<Tensor>& xs, int64_t dim);  // all shapes equal except along dim
Tensor stack(const std::vector<Tensor>& xs, int64_t dim);   // all shapes equal; new dim of size xs.size()

// Gather along dim with integer-valued float indices of any shape (an embedding lookup when x is [V,D]
// and indices [B,T]): out.shape = x.shape[:dim] + indices.shape + x.shape[dim+1:].
// Throws on an index that is not an integer or lies outside [0, x.size(dim)).
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& indices);
// Its adjoint: a zero tensor of `shape` into which src's slices are added at the indices (a repeated
// index adds twice). Used by index_select's backward.
Tensor index_add(const Shape& shape, int64_t dim, const Tensor& indices, const Tensor& src);

}  // namespace qkv::kernels
