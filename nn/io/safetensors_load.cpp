// Loading safetensors checkpoints (see nn/io/safetensors.h for the layout). The loader trusts nothing in the
// file: every length, offset and shape is checked against the file's real size before a byte of tensor data
// is read, so a corrupt or hostile file gives a named error, never a crash or a huge allocation.
#include "nn/io/safetensors.h"

#include <algorithm>
#include <bit>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include "nn/io/json.h"

namespace qkv {
namespace {

namespace fs = std::filesystem;
using json::Value;

// Reads a little-endian unsigned integer of `bytes` bytes, whatever the machine.
uint64_t get_le(const char* in, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i)
    value |= static_cast<uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return value;
}

// Every refusal starts "load_safetensors: "path": "; names and text from the file are shown through
// quote(), so a NUL or a newline in them cannot cut or garble the message.
std::string op_in(const std::string& path) { return "load_safetensors: " + quote(path); }
[[noreturn]] void bad_file(const std::string& path, const std::string& what) { fail(op_in(path), what); }

struct Entry {
  std::string name;
  Shape shape;
  int64_t begin = 0, end = 0;  // byte range in the data section
};

int64_t nonnegative_int(const std::string& path, const Value& v, const std::string& what) {
  if (v.kind == Value::Kind::Int && v.integer < 0)
    bad_file(path, what + " must be non-negative integers, got " + std::to_string(v.integer));
  if (v.kind != Value::Kind::Int)
    bad_file(path, what + " must be non-negative integers, got a JSON " + json::kind_name(v.kind));
  return v.integer;
}

// One header member: {"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}, each field exactly once.
Entry parse_entry(const std::string& path, const std::string& name, const Value& v) {
  const std::string where = "tensor " + quote(name);
  if (v.kind != Value::Kind::Object)
    bad_file(path, where + " is a JSON " + json::kind_name(v.kind) + ", not an object");
  const Value* fields[3] = {nullptr, nullptr, nullptr};
  const char* const field_names[3] = {"dtype", "shape", "data_offsets"};
  for (const auto& [key, value] : v.object) {
    const auto* it = std::find(std::begin(field_names), std::end(field_names), key);
    if (it == std::end(field_names)) bad_file(path, where + " has an unknown field " + quote(key));
    const Value*& slot = fields[it - std::begin(field_names)];
    if (slot) bad_file(path, where + " has the field " + quote(key) + " twice");
    slot = &value;
  }
  for (int i = 0; i < 3; ++i)
    if (!fields[i]) bad_file(path, where + " has no \"" + field_names[i] + "\" field");
  const Value& dtype = *fields[0];
  const Value& shape = *fields[1];
  const Value& offsets = *fields[2];

  if (dtype.kind != Value::Kind::String) bad_file(path, where + ": dtype must be a string");
  if (dtype.string != "F32")
    bad_file(path, where + ": unsupported dtype " + quote(dtype.string) + " (only F32 is supported)");
  Entry e{name, {}, 0, 0};
  if (shape.kind != Value::Kind::Array) bad_file(path, where + ": shape must be a list of integers");
  for (const Value& size : shape.array)
    e.shape.push_back(nonnegative_int(path, size, where + ": shape sizes"));
  if (offsets.kind != Value::Kind::Array || offsets.array.size() != 2)
    bad_file(path, where + ": data_offsets must be a list of two integers [begin, end]");
  e.begin = nonnegative_int(path, offsets.array[0], where + ": data_offsets");
  e.end = nonnegative_int(path, offsets.array[1], where + ": data_offsets");
  if (e.begin > e.end)
    bad_file(path, where + ": data_offsets [" + std::to_string(e.begin) + "," + std::to_string(e.end) +
                       "] end before they begin");

  // numel * 4 must equal the byte range. The sizes come from the file: numel refuses a product past int64
  // (even beside a size 0), in a message that starts as bad_file's; the bytes are compared without
  // computing numel * 4, which could wrap.
  const int64_t count = numel(e.shape, (op_in(path) + ": " + where).c_str());
  const int64_t held = e.end - e.begin;
  if (held % 4 != 0 || held / 4 != count)
    bad_file(path, where + ": shape " + to_string(e.shape) + " needs " +
                       (count > std::numeric_limits<int64_t>::max() / 4 ? std::string("over 2^63")
                                                                        : std::to_string(count * 4)) +
                       " bytes but data_offsets [" + std::to_string(e.begin) + "," + std::to_string(e.end) +
                       "] hold " + std::to_string(held));
  return e;
}

void parse_metadata(const std::string& path, const Value& v, std::map<std::string, std::string>& metadata) {
  if (v.kind != Value::Kind::Object)
    bad_file(path, "__metadata__ is a JSON " + std::string(json::kind_name(v.kind)) + ", not an object");
  for (const auto& [key, value] : v.object) {
    if (value.kind != Value::Kind::String)
      bad_file(path, "metadata value of " + quote(key) + " is a JSON " + json::kind_name(value.kind) +
                         ", not a string");
    if (!metadata.emplace(key, value.string).second) bad_file(path, "duplicate metadata key " + quote(key));
  }
}

// The tensors must tile the data section exactly: sorted by offset, each starts where the last ended,
// the first at 0 and the last at the end. (Zero-byte tensors may sit anywhere on that path.)
void check_layout(const std::string& path, std::vector<Entry> entries, int64_t data_bytes) {
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::pair(a.begin, a.end) < std::pair(b.begin, b.end);
  });
  const auto range = [](const Entry& e) {
    return quote(e.name) + " [" + std::to_string(e.begin) + "," + std::to_string(e.end) + "]";
  };
  for (size_t i = 0; i < entries.size(); ++i) {
    const int64_t expected = i == 0 ? 0 : entries[i - 1].end;
    if (entries[i].begin == expected) continue;
    if (i == 0) bad_file(path, "the data does not start at byte 0: the first tensor is " + range(entries[i]));
    if (entries[i].begin < expected)
      bad_file(path, "tensors " + range(entries[i - 1]) + " and " + range(entries[i]) + " overlap");
    bad_file(path, "gap in the data between tensors " + range(entries[i - 1]) + " and " + range(entries[i]));
  }
  const int64_t covered = entries.empty() ? 0 : entries.back().end;
  if (covered > data_bytes)
    bad_file(path, "tensor " + range(entries.back()) + " runs past the end of the data section (" +
                       std::to_string(data_bytes) + " bytes; truncated file?)");
  if (covered < data_bytes)
    bad_file(path, "the tensors cover " + std::to_string(covered) + " bytes but the data section holds " +
                       std::to_string(data_bytes));
}

}  // namespace

SafetensorsFile load_safetensors(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) bad_file(path, "no such file");
  if (!fs::is_regular_file(path, ec)) bad_file(path, "not a regular file");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) bad_file(path, "cannot open the file for reading");
  const auto file_bytes = static_cast<int64_t>(in.tellg());
  in.seekg(0);

  // 1. The header length N, then N bytes of header.
  if (file_bytes < 8)
    bad_file(path,
             "truncated: " + std::to_string(file_bytes) + " bytes, too short for the 8-byte header length");
  char length_bytes[8];
  in.read(length_bytes, 8);
  const uint64_t header_bytes = get_le(length_bytes, 8);
  if (header_bytes > kSafetensorsMaxHeaderBytes)
    bad_file(path,
             "header length " + std::to_string(header_bytes) + " is over the 100 MB limit (corrupt file?)");
  if (static_cast<int64_t>(header_bytes) > file_bytes - 8)
    bad_file(path, "truncated: the header length is " + std::to_string(header_bytes) + " bytes but only " +
                       std::to_string(file_bytes - 8) + " follow");
  std::string header_text(header_bytes, '\0');
  in.read(header_text.data(), static_cast<std::streamsize>(header_bytes));
  if (!in) bad_file(path, "reading the header failed");

  // 2. The header: every entry checked on its own, then all of them together against the data section.
  Value header;
  try {
    header = json::parse(header_text);
  } catch (const Error& e) {
    bad_file(path, std::string("the header is not valid JSON (") + e.what() + ")");
  }
  if (header.kind != Value::Kind::Object)
    bad_file(path, "the header is a JSON " + std::string(json::kind_name(header.kind)) + ", not an object");
  SafetensorsFile file;
  std::vector<Entry> entries;
  std::set<std::string> names;
  for (const auto& [name, value] : header.object) {
    if (!names.insert(name).second) bad_file(path, "duplicate name " + quote(name) + " in the header");
    if (name == kSafetensorsMetadataKey) {
      parse_metadata(path, value, file.metadata);
    } else {
      entries.push_back(parse_entry(path, name, value));
    }
  }
  const int64_t data_start = 8 + static_cast<int64_t>(header_bytes);
  check_layout(path, entries, file_bytes - data_start);

  // 3. The data, now known to fit: read straight into each tensor's storage (allocated under this file's
  // name, so a tensor too big for memory is refused naming it), then little-endian bytes to floats in
  // place, whatever the machine.
  for (const Entry& e : entries) {
    Tensor tensor = Tensor::empty(e.shape, op_in(path).c_str());
    char* bytes = reinterpret_cast<char*>(tensor.mutable_data());
    in.seekg(data_start + e.begin);
    in.read(bytes, static_cast<std::streamsize>(e.end - e.begin));
    if (!in) bad_file(path, "reading the data of tensor " + quote(e.name) + " failed");
    float* values = tensor.mutable_data();
    for (int64_t i = 0; i < tensor.numel(); ++i)
      values[i] = std::bit_cast<float>(static_cast<uint32_t>(get_le(bytes + 4 * i, 4)));
    file.tensors.emplace_back(e.name, std::move(tensor));
  }
  return file;
}

}  // namespace qkv
