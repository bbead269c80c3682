// Rotary position embeddings (RoPE; Su et al. 2021, as GPT-NeoX and LLaMA use them): each head's query or
// key vector is cut into Dh/2 pairs and pair i is turned by the angle p * theta_i, where p is the token's
// position and theta_i = base^(-2i/Dh). A dot product of a turned query at i with a turned key at j then
// depends on the positions only through j - i. Pairs are (i, i + Dh/2), the "rotate half" layout of
// GPT-NeoX and Hugging Face's LLaMA (Meta's code pairs neighbours (2i, 2i+1): the same model up to a
// permutation of each head's columns). Leaves out: scaled or extended contexts (NTK, YaRN).
#pragma once
#include "tensor/tensor.h"

namespace qkv::kernels {

// x [..., T, H*Dh], heads side by side in the last dim as the Q/K projections make them; row t of the T
// is at position pos_offset + t (a key/value cache's offset when decoding). Dh = width / H must be even.
// inverse turns by -angle: the backward, since a rotation's transpose is its inverse.
Tensor rope(const Tensor& x, int64_t num_heads, int64_t pos_offset, float base, bool inverse = false);

}  // namespace qkv::kernels
