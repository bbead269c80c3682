// Checkpoints (nn/io/safetensors.h): bitwise round trips, the exact bytes of a tiny file, saves that never
// damage what is on disk, and one crafted bad file per rejection, each checking the error names the problem.
// The JSON reader/writer underneath has its own tests in test_json.cpp.
// A new rejection in the loader gets a test here built with craft() and expect_load_error().
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>

#include "catch.h"
#include "helpers.h"
#include "nn/io/safetensors.h"

namespace fs = std::filesystem;
using qkv::NamedTensors;
using qkv::Tensor;

using qkv::testing::error_of;

namespace {

std::string scratch(const std::string& name) { return qkv::testing::scratch_path("safetensors", name); }

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string u64_le(uint64_t n) {
  std::string out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>((n >> (8 * i)) & 0xFF);
  return out;
}

// A file with the given header text and data section (the header length is computed).
std::string craft(const std::string& header, const std::string& data = "") {
  return u64_le(header.size()) + header + data;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Writes bytes to a file, loads it, and checks the error starts with the op, names the file and the problem.
void expect_load_error(const std::string& bytes, const std::string& problem) {
  // One file per crafted content, so tests that ctest runs in parallel never share a file.
  const std::string path =
      scratch("bad_" + std::to_string(std::hash<std::string>{}(bytes + problem)) + ".safetensors");
  write_bytes(path, bytes);
  const std::string message = error_of([&] { qkv::load_safetensors(path); });
  INFO(message);
  CHECK(message.rfind("load_safetensors: ", 0) == 0);
  CHECK(contains(message, path));
  CHECK(contains(message, problem));
}

const std::string kEntryA = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
const std::string kEightBytes(8, '\0');

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  return a.numel() == 0 || std::memcmp(a.data(), b.data(), sizeof(float) * a.numel()) == 0;  // empty: no data
}

}  // namespace

// ---- round trips and the exact format ----

TEST_CASE("safetensors: round trip is bitwise, with a 0-d tensor, empty dims and metadata") {
  const float nan_payload = std::bit_cast<float>(0x7FC01234u);
  const NamedTensors tensors = {
      {"encoder.blocks.0.attention.W_q.weight",
       Tensor({2, 3}, {1.5f, -0.0f, std::numeric_limits<float>::denorm_min(), INFINITY, nan_payload, 3e38f})},
      {"scalar", Tensor(qkv::Shape{}, 7.25f)},
      {"empty", Tensor(qkv::Shape{0, 3})},
      {"also_empty", Tensor({4, 0, 2})},
      {"bias", Tensor({3}, {0.1f, 0.2f, 0.3f})}};
  const std::map<std::string, std::string> metadata = {
      {"step", "100"}, {"note", "quotes \" and \\ and\nnewline, \x01, café, 注意"}};
  const std::string path = scratch("round_trip.safetensors");
  qkv::save_safetensors(path, tensors, metadata);
  const qkv::SafetensorsFile file = qkv::load_safetensors(path);
  REQUIRE(file.tensors.size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    CHECK(file.tensors[i].first == tensors[i].first);  // the order is kept
    CHECK(bitwise_equal(file.tensors[i].second, tensors[i].second));
  }
  CHECK(file.metadata == metadata);
  CHECK(file.tensors[1].second.dim() == 0);
}

TEST_CASE("safetensors: the bytes of a tiny file match a hand-built file") {
  const std::string path = scratch("tiny.safetensors");
  qkv::save_safetensors(path, {{"a", Tensor({2}, {1.0f, -2.0f})}}, {{"k", "v"}});
  // 79 bytes of JSON, metadata first as in the reference implementation, one space of padding to 80.
  const std::string header =
      R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} )";
  const std::string expected = std::string("\x50\0\0\0\0\0\0\0", 8) + header +
                               std::string("\x00\x00\x80\x3F", 4) +  // 1.0f  = 0x3F800000, little-endian
                               std::string("\x00\x00\x00\xC0", 4);   // -2.0f = 0xC0000000
  CHECK(read_bytes(path) == expected);
}

TEST_CASE("safetensors: an empty checkpoint round-trips") {
  const std::string path = scratch("empty.safetensors");
  qkv::save_safetensors(path, {});
  CHECK(read_bytes(path) == u64_le(8) + "{}      ");
  CHECK(qkv::load_safetensors(path).tensors.empty());
}

// ---- saving never damages what is on disk ----

TEST_CASE("safetensors: saving over a checkpoint replaces it and leaves no .tmp behind") {
  const std::string path = scratch("replace.safetensors");
  qkv::save_safetensors(path, {{"w", Tensor({2}, 1.0f)}});
  qkv::save_safetensors(path, {{"w", Tensor({3}, 2.0f)}});
  CHECK(qkv::load_safetensors(path).tensors.at(0).second.to_vector() == std::vector<float>{2, 2, 2});
  CHECK_FALSE(fs::exists(path + ".tmp"));
}

TEST_CASE("safetensors: a rejected save leaves the old checkpoint intact") {
  const std::string path = scratch("keep.safetensors");
  qkv::save_safetensors(path, {{"w", Tensor({2}, 1.0f)}});
  const std::string before = read_bytes(path);
  CHECK(contains(error_of([&] {
                   qkv::save_safetensors(path, {{"w", Tensor({1})}, {"w", Tensor({1})}});
                 }),
                 "save_safetensors: duplicate tensor name \"w\""));
  CHECK(contains(error_of([&] { qkv::save_safetensors(path, {{"", Tensor({1})}}); }), "empty name"));
  CHECK(contains(error_of([&] {
                   qkv::save_safetensors(path, {{"__metadata__", Tensor({1})}});
                 }),
                 "reserved"));
  CHECK(contains(error_of([&] { qkv::save_safetensors(path, {{"w", Tensor()}}); }), "\"w\" is undefined"));
  CHECK(contains(error_of([&] { qkv::save_safetensors(path, {{"bad\xFF", Tensor({1})}}); }), "valid UTF-8"));
  CHECK(read_bytes(path) == before);
  CHECK_FALSE(fs::exists(path + ".tmp"));
}

TEST_CASE("safetensors: a save that fails after writing removes its .tmp file") {
  // The target is a folder, so the file is written in full but the final rename fails (also as root).
  const std::string path = scratch("a_folder.safetensors");
  fs::create_directories(path);
  write_bytes(path + "/keep", "x");
  const std::string message = error_of([&] { qkv::save_safetensors(path, {{"w", Tensor({2}, 1.0f)}}); });
  CHECK(contains(message,
                 "save_safetensors: cannot rename \"" + path + ".tmp\" to \"" + path + "\": Is a directory"));
  CHECK_FALSE(fs::exists(path + ".tmp"));
  CHECK(read_bytes(path + "/keep") == "x");
}

TEST_CASE("safetensors: a save into a missing folder fails by name and touches no other file") {
  const std::string other = scratch("other.safetensors");
  qkv::save_safetensors(other, {{"w", Tensor({2}, 1.0f)}});
  const std::string before = read_bytes(other);
  const std::string path = scratch("no/such/folder/model.safetensors");
  const std::string message = error_of([&] { qkv::save_safetensors(path, {{"w", Tensor({2}, 3.0f)}}); });
  CHECK(contains(message, "save_safetensors: cannot open \"" + path + ".tmp\""));
  CHECK(read_bytes(other) == before);
}

// ---- every rejection of the loader, one crafted file each ----

TEST_CASE("safetensors: rejects a missing file and a folder") {
  CHECK(contains(error_of([] { qkv::load_safetensors(scratch("missing.safetensors")); }), "no such file"));
  CHECK(contains(error_of([] { qkv::load_safetensors(scratch("")); }), "not a regular file"));
}

TEST_CASE("safetensors: rejects a file shorter than the 8-byte header length") {
  expect_load_error("", "truncated: 0 bytes");
  expect_load_error(std::string("\x10\0\0", 3), "truncated: 3 bytes");
}

TEST_CASE("safetensors: rejects a header length past the end of the file") {
  const std::string header = "{" + kEntryA + "}";
  expect_load_error(u64_le(header.size() + 1) + header, "truncated: the header length is");
}

TEST_CASE("safetensors: rejects a header length over 100 MB") {
  expect_load_error(u64_le(200'000'000) + "{}", "header length 200000000 is over the 100 MB limit");
  expect_load_error(u64_le(~0ull) + "{}", "over the 100 MB limit");
}

TEST_CASE("safetensors: rejects a header that is not JSON") {
  expect_load_error(craft(R"({"a":{"dtype":"F32",})"), "not valid JSON");
  expect_load_error(craft("{\"a\":\"\xC3\x28\"}"), "invalid UTF-8");
  expect_load_error(craft(std::string(100, '[') + std::string(100, ']')), "nesting deeper than");
}

TEST_CASE("safetensors: rejects a header that is not an object, or entries that are not") {
  expect_load_error(craft("[1,2]"), "the header is a JSON array, not an object");
  expect_load_error(craft(R"({"a":3})"), "tensor \"a\" is a JSON integer, not an object");
}

TEST_CASE("safetensors: rejects missing, unknown and repeated fields of an entry") {
  expect_load_error(craft(R"({"a":{"dtype":"F32","shape":[0]}})"),
                    "tensor \"a\" has no \"data_offsets\" field");
  expect_load_error(craft(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0],"x":1}})"),
                    "unknown field \"x\"");
  expect_load_error(craft(R"({"a":{"dtype":"F32","dtype":"F32","shape":[0],"data_offsets":[0,0]}})"),
                    "field \"dtype\" twice");
}

TEST_CASE("safetensors: rejects a dtype other than F32, by name") {
  expect_load_error(craft(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", "1234"),
                    "tensor \"a\": unsupported dtype \"F16\" (only F32 is supported)");
  expect_load_error(craft(R"({"a":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})", kEightBytes),
                    "dtype must be a string");
}

TEST_CASE("safetensors: rejects a shape that is not a list of non-negative integers") {
  const auto entry = [](const std::string& shape) {
    return craft(R"({"a":{"dtype":"F32","shape":)" + shape + R"(,"data_offsets":[0,8]}})", kEightBytes);
  };
  expect_load_error(entry("2"), "shape must be a list of integers");
  expect_load_error(entry("[-2]"), "shape sizes must be non-negative integers, got -2");
  expect_load_error(entry("[2.0]"), "got a JSON number");
  expect_load_error(entry(R"(["2"])"), "got a JSON string");
}

TEST_CASE("safetensors: rejects data_offsets that are not two ordered integers") {
  const auto entry = [](const std::string& offsets) {
    return craft(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":)" + offsets + "}}", kEightBytes);
  };
  expect_load_error(entry("[0]"), "data_offsets must be a list of two integers");
  expect_load_error(entry("[0,8,16]"), "data_offsets must be a list of two integers");
  expect_load_error(entry("[0,-8]"), "data_offsets must be non-negative integers, got -8");
  expect_load_error(entry("[8,0]"), "data_offsets [8,0] end before they begin");
  expect_load_error(entry("[0,99999999999999999999]"), "integer out of the int64 range");
}

TEST_CASE("safetensors: rejects a shape whose size disagrees with its byte range") {
  expect_load_error(craft(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", kEightBytes),
                    "shape [3] needs 12 bytes but data_offsets [0,8] hold 8");
  // A product that would overflow int64 is refused, not wrapped around (test_refusals_files.cpp has more).
  expect_load_error(
      craft(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", kEightBytes),
      "has more elements than int64 can count");
}

TEST_CASE("safetensors: rejects data that does not start at byte 0") {
  expect_load_error(craft(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", kEightBytes),
                    "does not start at byte 0: the first tensor is \"a\" [4,8]");
}

TEST_CASE("safetensors: rejects overlapping tensors") {
  expect_load_error(craft(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                          std::string(12, '\0')),
                    "tensors \"a\" [0,8] and \"b\" [4,12] overlap");
}

TEST_CASE("safetensors: rejects a gap between tensors") {
  expect_load_error(craft(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                          R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                          std::string(12, '\0')),
                    "gap in the data between tensors \"a\" [0,4] and \"b\" [8,12]");
}

TEST_CASE("safetensors: rejects tensors that run past the end of the data") {
  expect_load_error(craft("{" + kEntryA + "}", "1234"),
                    "\"a\" [0,8] runs past the end of the data section (4 bytes");
}

TEST_CASE("safetensors: rejects data bytes that no tensor covers") {
  expect_load_error(craft("{" + kEntryA + "}", kEightBytes + "xx"),
                    "the tensors cover 8 bytes but the data section holds 10");
}

TEST_CASE("safetensors: rejects duplicate names") {
  expect_load_error(craft("{" + kEntryA + "," + kEntryA + "}", kEightBytes), "duplicate name \"a\"");
  expect_load_error(craft(R"({"__metadata__":{"k":"1","k":"2"}})"), "duplicate metadata key \"k\"");
}

TEST_CASE("safetensors: rejects metadata that is not strings") {
  expect_load_error(craft(R"({"__metadata__":{"step":100}})"),
                    "metadata value of \"step\" is a JSON integer, not a string");
  expect_load_error(craft(R"({"__metadata__":["x"]})"), "__metadata__ is a JSON array, not an object");
}

// ---- load_into: check everything, then copy ----

TEST_CASE("safetensors: load_into copies into the destinations in place") {
  const std::string path = scratch("into.safetensors");
  qkv::save_safetensors(path, {{"w", Tensor({2, 2}, {1, 2, 3, 4})}, {"b", Tensor({2}, {5, 6})}});
  Tensor w({2, 2}), b({2});
  const Tensor alias = w;  // another handle on w's storage sees the load
  qkv::load_into(qkv::load_safetensors(path), {{"b", b}, {"w", w}});
  CHECK(alias.to_vector() == std::vector<float>{1, 2, 3, 4});
  CHECK(b.to_vector() == std::vector<float>{5, 6});
}

TEST_CASE("safetensors: load_into rejects a missing tensor and changes nothing") {
  const qkv::SafetensorsFile file{{{"w", Tensor({2}, 9.0f)}}, {}};
  Tensor w({2}, 1.0f), b({3}, 1.0f);
  const std::string message = error_of([&] { qkv::load_into(file, {{"w", w}, {"b", b}}); });
  CHECK(contains(message, "load_into: 1 problem, nothing loaded: \"b\" is missing from the file"));
  CHECK(w.to_vector() == std::vector<float>{1, 1});  // w was fine, but nothing is copied
}

TEST_CASE("safetensors: load_into rejects a wrong shape, naming both, and changes nothing") {
  const qkv::SafetensorsFile file{{{"w", Tensor({2, 3}, 9.0f)}, {"b", Tensor({3}, 9.0f)}}, {}};
  Tensor w({3, 2}, 1.0f), b({3}, 1.0f);
  const std::string message = error_of([&] { qkv::load_into(file, {{"w", w}, {"b", b}}); });
  CHECK(contains(message, "\"w\" has shape [2,3] in the file but [3,2] in the model"));
  CHECK(w.to_vector() == std::vector<float>(6, 1.0f));
  CHECK(b.to_vector() == std::vector<float>(3, 1.0f));
}

TEST_CASE("safetensors: load_into rejects extra file tensors unless allow_extra") {
  const qkv::SafetensorsFile file{{{"w", Tensor({2}, 9.0f)}, {"step_count", Tensor({1}, 3.0f)}}, {}};
  Tensor w({2}, 1.0f);
  CHECK(contains(error_of([&] {
                   qkv::load_into(file, {{"w", w}});
                 }),
                 "\"step_count\" in the file has no destination"));
  CHECK(w.to_vector() == std::vector<float>{1, 1});
  qkv::load_into(file, {{"w", w}}, /*allow_extra=*/true);
  CHECK(w.to_vector() == std::vector<float>{9, 9});
}

TEST_CASE("safetensors: load_into lists every problem at once") {
  const qkv::SafetensorsFile file{{{"a", Tensor({1})}, {"extra", Tensor({1})}}, {}};
  Tensor a({2}), b({1});
  const std::string message = error_of([&] { qkv::load_into(file, {{"a", a}, {"b", b}, {"b", b}}); });
  CHECK(contains(message, "4 problems"));
  CHECK(contains(message, "\"a\" has shape [1] in the file but [2]"));
  CHECK(contains(message, "\"b\" is missing"));
  CHECK(contains(message, "\"b\" is listed twice"));
  CHECK(contains(message, "\"extra\" in the file"));
}
