// Checkpoints in the safetensors format (https://huggingface.co/docs/safetensors), so that a model saved
// here opens in PyTorch and the other way round. The file is:
//
//   8 bytes    N, the header length, an unsigned 64-bit little-endian integer
//   N bytes    a JSON object, padded with spaces to a multiple of 8 bytes:
//              {"__metadata__":{"step":"100"},
//               "encoder.W_q.weight":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}, ...}
//   the rest   the tensors' raw little-endian bytes, back to back; data_offsets count from here.
//
// Leaves out: dtypes other than F32 (F16, BF16, I64, ... are rejected by name), memory-mapping, and
// sharded checkpoints (model-00001-of-00002.safetensors).
#pragma once
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "nn/io/atomic_write.h"
#include "tensor/tensor.h"

namespace qkv {

// The format's limits, shared by the writer and the loader.
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;  // as the reference implementation
inline constexpr const char* kSafetensorsMetadataKey = "__metadata__";

// Writes the tensors in the order given, with optional string metadata (PyTorch:
// safetensors.torch.save_file). The file is written by write_file_atomically (atomic_write.h), so an interrupted or
// failed save leaves an existing checkpoint at path as it was. Throws "save_safetensors: ..."
// for an empty or duplicate name, an undefined tensor, or any write error.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  NamedTensors tensors;  // in the order of the file's header
  std::map<std::string, std::string> metadata;
};

// Reads and checks a whole file (PyTorch: safetensors.torch.load_file). Anything malformed -- truncation,
// bad JSON, an unknown dtype, offsets with gaps or overlaps, a shape that disagrees with its bytes -- throws
// qkv::Error "load_safetensors: \"path\": <what is wrong>" (names and text from the file through quote()).
SafetensorsFile load_safetensors(const std::string& path);

// Copies each file tensor into the destination of the same name, in place (PyTorch: load_state_dict).
// Everything is checked before anything is copied, so a rejected load changes nothing: every destination
// must be in the file with the same shape, and a file tensor with no destination is an error unless
// allow_extra (PyTorch: strict=False), and every value must be finite. The error lists every problem found.
// The checks are Module::load_state_dict's (nn::load_named_tensors in nn/module.h).
void load_into(const SafetensorsFile& file, const NamedTensors& destinations, bool allow_extra = false);

}  // namespace qkv
