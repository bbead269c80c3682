// Bad input and failures around checkpoint files (issue 12): shapes past int64 in a header, input text
// escaped in every message (qkv::quote), and saves that fail for a stated reason (errno's, not a guess)
// while leaving the old file byte for byte as it was and no temporary file behind.
#include <signal.h>
#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "catch.h"
#include "helpers.h"
#include "nn/io/safetensors.h"
#include "tensor/creation.h"

namespace fs = std::filesystem;
using Catch::Contains;
using qkv::quote;
using qkv::Tensor;

namespace {

std::string scratch(const std::string& name) { return qkv::testing::scratch_path("refusals_files", name); }

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A safetensors file: the 8-byte little-endian header length, the header, the data.
std::string craft(const std::string& header, const std::string& data = "") {
  std::string out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return out + header + data;
}

// The error of loading a file holding `bytes`; the file is named after the test's `name`.
std::string load_error(const std::string& name, const std::string& bytes) {
  const std::string path = scratch(name + ".safetensors");
  write_bytes(path, bytes);
  return ERROR_OF(qkv::load_safetensors(path));
}

bool has_raw_control_bytes(const std::string& message) {
  for (const char c : message)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) return true;
  return false;
}

// Makes every write past `bytes` of one file fail with EFBIG ("File too large") while it lives, as a full
// disk would; the signal the kernel sends for it is ignored, so the write returns an error instead.
struct FileSizeLimit {
  rlimit saved{};
  void (*saved_handler)(int);
  explicit FileSizeLimit(rlim_t bytes) {
    saved_handler = signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &saved);
    rlimit limit = saved;
    limit.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, saved_handler);
  }
};

}  // namespace

// ---- shapes from a header ----

TEST_CASE("safetensors refusals: a shape past int64 is refused even beside a size 0") {
  const std::string message =
      load_error("overflow_zero", craft(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,0],)"
                                        R"("data_offsets":[0,0]}})"));
  CHECK_THAT(message,
             Contains("load_safetensors: ") && Contains("overflow_zero.safetensors") &&
                 Contains("tensor \"a\": shape [4294967296,4294967296,0] has more elements than int64"));
}

TEST_CASE("safetensors refusals: a shape whose bytes pass int64 is refused") {
  const std::string message =
      load_error("overflow_bytes",
                 craft(R"({"a":{"dtype":"F32","shape":[2305843009213693952,2],"data_offsets":[0,0]}})"));
  CHECK_THAT(message, Contains("tensor \"a\": shape [2305843009213693952,2] needs over 2^63 bytes but "
                               "data_offsets [0,0] hold 0"));
}

// ---- input text in messages ----

TEST_CASE("safetensors refusals: tensor names in errors are escaped") {
  // The name is a, NUL, b, newline, quote: JSON escapes in the header, raw bytes once parsed.
  const std::string message = load_error(
      "escaped_name", craft(R"({"a\u0000b\n\"":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}})", "12"));
  CHECK_THAT(message, Contains("tensor \"a\\0b\\n\\\"\": unsupported dtype \"F16\""));
  CHECK_FALSE(has_raw_control_bytes(message));
}

TEST_CASE("safetensors refusals: dtypes metadata keys and duplicates in errors are escaped") {
  CHECK_THAT(load_error("escaped_dtype",
                        craft(R"({"a":{"dtype":"F\t16","shape":[1],"data_offsets":[0,4]}})", "1234")),
             Contains("unsupported dtype \"F\\t16\""));
  CHECK_THAT(load_error("escaped_meta", craft(R"({"__metadata__":{"k\u0001":1}})")),
             Contains("metadata value of \"k\\x01\" is a JSON integer"));
  CHECK_THAT(load_error("escaped_dup", craft(R"({"x\ny":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                                             R"("x\ny":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}})")),
             Contains("duplicate name \"x\\ny\" in the header"));
}

TEST_CASE("safetensors refusals: raw bytes of a broken header are escaped") {
  const std::string message = load_error("escaped_header", craft("\xFF\n"));
  CHECK_THAT(message,
             Contains("the header is not valid JSON (json: unexpected character \"\\xFF\" at byte 0)"));
  CHECK_FALSE(has_raw_control_bytes(message));
}

TEST_CASE("safetensors refusals: a path in errors is escaped") {
  const std::string path = scratch("no\nsuch.safetensors");
  CHECK_THAT(ERROR_OF(qkv::load_safetensors(path)),
             Contains("load_safetensors: " + quote(path) + ": no such file"));
}

TEST_CASE("safetensors refusals: load_into and save name tensors escaped") {
  const Tensor dest = qkv::zeros({1});
  CHECK_THAT(ERROR_OF(qkv::load_into(qkv::SafetensorsFile{}, {{"x\ny", dest}})),
             Contains("\"x\\ny\" is missing from the file"));
  const std::string path = scratch("escaped_save.safetensors");
  CHECK_THAT(
      ERROR_OF(qkv::save_safetensors(path, {{std::string("w\0", 2), dest}, {std::string("w\0", 2), dest}})),
      Contains("save_safetensors: duplicate tensor name \"w\\0\""));
  CHECK_FALSE(fs::exists(path));
}

// ---- saves that fail ----

TEST_CASE("safetensors refusals: a save into a missing folder says why") {
  const std::string path = scratch("missing/folder/model.safetensors");
  CHECK_THAT(ERROR_OF(qkv::save_safetensors(path, {{"w", qkv::ones({2})}})),
             Contains("save_safetensors: cannot open " + quote(path + ".tmp") +
                      " for writing: No such file or directory"));
  CHECK_FALSE(fs::exists(path + ".tmp"));
}

TEST_CASE("safetensors refusals: a failed write keeps the old file and says why") {
  const std::string path = scratch("too_large.safetensors");
  qkv::save_safetensors(path, {{"w", qkv::ones({2})}});
  const std::string before = read_bytes(path);
  std::string message;
  {
    const FileSizeLimit limit(4096);  // the new file holds 16 KiB of floats
    message = ERROR_OF(qkv::save_safetensors(path, {{"w", qkv::ones({4096})}}));
  }
  CHECK_THAT(message,
             Contains("save_safetensors: writing " + quote(path + ".tmp") + " failed: File too large"));
  CHECK_THAT(message, !Contains("disk full"));
  CHECK(read_bytes(path) == before);
  CHECK_FALSE(fs::exists(path + ".tmp"));
}

TEST_CASE("safetensors refusals: a stale temporary file or link is replaced and never written through") {
  const std::string path = scratch("stale.safetensors"), victim = scratch("victim.txt");
  write_bytes(victim, "precious");
  fs::remove(path + ".tmp");
  fs::create_symlink(victim, path + ".tmp");
  qkv::save_safetensors(path, {{"w", qkv::full({2}, 7)}});
  CHECK(read_bytes(victim) == "precious");
  CHECK(qkv::load_safetensors(path).tensors.at(0).second.to_vector() == std::vector<float>{7, 7});
  CHECK_FALSE(fs::exists(fs::symlink_status(path + ".tmp")));
}
