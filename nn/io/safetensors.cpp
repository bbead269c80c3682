// Saving safetensors checkpoints, and copying loaded tensors into a model (see nn/io/safetensors.h for the
// layout). The checking loader is in nn/io/safetensors_load.cpp.
#include "nn/io/safetensors.h"

#include <algorithm>
#include <bit>
#include <set>

#include "nn/io/json.h"
#include "nn/module.h"

namespace qkv {
namespace {

using json::Value;

// The header JSON, in the reference implementation's order: metadata first, then the tensors as given,
// back to back. Padded with spaces so the data section starts 8-byte aligned.
std::string make_header(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  Value header = Value::make_object();
  if (!metadata.empty()) {
    Value meta = Value::make_object();
    for (const auto& [key, value] : metadata) meta.object.emplace_back(key, Value::make_string(value));
    header.object.emplace_back(kSafetensorsMetadataKey, std::move(meta));
  }
  int64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    std::vector<Value> shape;
    for (const int64_t size : tensor.shape()) shape.push_back(Value::make_int(size));
    const int64_t end = offset + tensor.numel() * 4;
    header.object.emplace_back(
        name, Value::make_object(
                  {{"dtype", Value::make_string("F32")},
                   {"shape", Value::make_array(std::move(shape))},
                   {"data_offsets", Value::make_array({Value::make_int(offset), Value::make_int(end)})}}));
    offset = end;
  }
  std::string text = json::dump(header);
  text.append((8 - text.size() % 8) % 8, ' ');
  return text;
}

// Little-endian whatever the machine: byte i holds bits 8i..8i+7 of the value (the loader's get_le undoes
// it).
void put_le(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((value >> (8 * i)) & 0xFF);
}
std::string f32_to_le_bytes(const Tensor& tensor) {
  std::string bytes;
  bytes.reserve(static_cast<size_t>(tensor.numel()) * 4);
  const float* values = tensor.data();
  for (int64_t i = 0; i < tensor.numel(); ++i) put_le(bytes, std::bit_cast<uint32_t>(values[i]), 4);
  return bytes;
}

void check_names(const NamedTensors& tensors) {
  std::set<std::string> seen;
  for (const auto& [name, tensor] : tensors) {
    if (name.empty()) fail("save_safetensors", "a tensor has an empty name");
    if (name == kSafetensorsMetadataKey)
      fail("save_safetensors", "the name \"__metadata__\" is reserved for metadata");
    if (!seen.insert(name).second) fail("save_safetensors", "duplicate tensor name " + quote(name));
    if (!tensor.defined())
      fail("save_safetensors", "tensor " + quote(name) + " is undefined (it has no storage)");
  }
}

}  // namespace

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  check_names(tensors);
  const std::string header = make_header(tensors, metadata);
  if (header.size() > kSafetensorsMaxHeaderBytes) fail("save_safetensors", "header over the 100 MB limit");
  // Our own loader must accept what we write: this catches names or metadata that are not valid UTF-8.
  try {
    json::parse(header);
  } catch (const Error& e) {
    fail("save_safetensors", std::string("tensor names and metadata must be valid UTF-8 (") + e.what() + ")");
  }

  write_file_atomically("save_safetensors", path, [&](std::ostream& out) {
    std::string length;
    put_le(length, header.size(), 8);
    out << length << header;
    for (const auto& [name, tensor] : tensors) out << f32_to_le_bytes(tensor);
  });
}

void load_into(const SafetensorsFile& file, const NamedTensors& destinations, bool allow_extra) {
  nn::load_named_tensors("load_into", file.tensors, destinations,
                         {false, allow_extra, "the file", "allow_extra"});
}

}  // namespace qkv
