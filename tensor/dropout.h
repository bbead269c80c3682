// Inverted dropout's kernels: the mask drawn from a counter-based stream (tensor/random.h), so any thread
// draws entry i the same, and dropout applied in one pass without building the mask.
// autograd/dropout.cpp makes it differentiable (its backward redraws the mask).
#pragma once
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace qkv::kernels {

// Inverted dropout's mask: each entry is 0 with probability p, else 1 / (1 - p), so mask * x keeps
// the expectation of x. p in [0, 1); p == 0 gives all ones. Entry i is drawn from stream.bits32(i)
// alone, so threads can share the work and still draw the same mask for any thread count. The Generator
// overload takes its stream from gen.split().
Tensor dropout_mask(const Shape& shape, float p, CounterStream stream);
Tensor dropout_mask(const Shape& shape, float p, Generator& gen = default_generator());
// Inverted dropout x * dropout_mask(x.shape(), p, stream) in one pass, without building the mask.
// It is its own backward: y = x * mask gives dx = dy * mask, which is dropout(dy, p, stream) again, so
// backward keeps only the stream (8 bytes) and redraws the mask instead of storing it.
Tensor dropout(const Tensor& x, float p, CounterStream stream);
// The same for entries first .. first+n-1 of a mask of any shape, on the calling thread:
// out[j] = x[j] * dropout_mask(shape, p, stream)[first + j] for j < n (out may be x). For kernels that
// apply dropout a piece at a time (the attention kernels, one [T,S] map or one row of a block).
void dropout_entries(const float* x, float* out, int64_t first, int64_t n, float p, CounterStream stream);

}  // namespace qkv::kernels
