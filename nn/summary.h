// A model summary, as PyTorch's print(model) and torchinfo show it: the module tree, each module's own
// parameters with their shapes and sizes, each module's total, and the grand total.
//   module / parameter                    shape      parameters
//   EncoderDecoder                                       72,461
//     (encoder): TransformerEncoder                      34,304
//       (embedding): Embedding                              832
//         weight                          [13, 64]          832
//   ...
//   total: 72,461 parameters (283.1 KiB as float32)
// Leaves out: layer hyperparameters that are not tensors (dropout p, activation), and output shapes,
// which need an input (torchinfo runs one); docs/14-explorer.md shows both.
#pragma once
#include <string>

#include "nn/module.h"

namespace qkv::nn {

std::string summary(const Module& model);
// The class of a module without its namespace: "TransformerEncoderBlock".
std::string type_name(const Module& module);
// 72461 -> "72,461".
std::string with_commas(int64_t n);

}  // namespace qkv::nn
