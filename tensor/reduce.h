// Reductions along one dimension (negative dims count from the end) and over everything.
// keepdim keeps the reduced dim with size 1, so the result broadcasts against the input.
#pragma once
#include "tensor/tensor.h"

namespace qkv::kernels {

Tensor sum(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor sum_all(const Tensor& x);   // 0-d; 0 for an empty tensor
Tensor mean_all(const Tensor& x);  // 0-d; throws on an empty tensor
// The sum of x's squares, each square and the sum in double, in one fixed order (vmath::sum_sq_dev's
// eight partial sums): a gradient norm's square. 0 for an empty tensor.
double sum_of_squares(const Tensor& x);

// max along dim: values and, as floats, the index of the first maximum (ties go to the lowest index).
struct MaxResult {
  Tensor values, indices;
};
MaxResult max(const Tensor& x, int64_t dim, bool keepdim = false);  // throws if that dim has size 0
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor max_all(const Tensor& x);  // 0-d; throws on an empty tensor

// Undo broadcasting for gradients: sums x over the dims that broadcasting stretched to reach x's shape,
// so sum_to(grad of [B,T,D], {D}) is the gradient of the [D] operand. Throws if shape does not broadcast
// to x's shape. When shape is x's own shape, returns x itself (sharing storage, no copy).
Tensor sum_to(const Tensor& x, const Shape& shape);
// Materialise broadcasting: copy x out to `shape`.
Tensor broadcast_to(const Tensor& x, const Shape& shape);

}  // namespace qkv::kernels
