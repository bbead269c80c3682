// Writes the fuzzers' starting corpora: real files and broken ones, so fuzzing starts from inputs that reach
// deep into the loaders instead of guessing the format from nothing.
//   fuzz_seeds CHECKPOINT_DIR JSON_DIR
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>

#include "fuzz_model.h"
#include "nn/io/checkpoint.h"
#include "tensor/random.h"

namespace {

void write(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("fuzz_seeds: cannot write " + path);
}

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A safetensors file from a header text and raw data bytes: 8-byte little-endian length, header, data.
std::string safetensors(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = char((uint64_t(header.size()) >> (8 * i)) & 0xFF);
  return out + header + data;
}

void checkpoint_seeds(const std::string& dir) {
  qkv::manual_seed(0);
  qkv::fuzz::SmallModel model;
  qkv::nn::Adam optimizer(model.named_parameters(), 1e-3f);
  // Real files: the model alone, then with the optimizer's state, metadata and an extra tensor.
  qkv::nn::save_checkpoint(dir + "/model_only.safetensors", model, nullptr);
  qkv::nn::Checkpoint extra{{{"step", "7"}, {"num_hiddens", "4"}},
                            {{"train.losses", qkv::tensor({2.5f, 1.5f})}}};
  qkv::nn::save_checkpoint(dir + "/with_optimizer.safetensors", model, &optimizer, extra);
  const std::string real = read(dir + "/with_optimizer.safetensors");
  // Broken ones: cut inside the length, the header and the data; a header length past the end; a flipped byte.
  write(dir + "/cut_length.safetensors", real.substr(0, 5));
  write(dir + "/cut_header.safetensors", real.substr(0, 40));
  write(dir + "/cut_data.safetensors", real.substr(0, real.size() - 3));
  std::string lying = real;
  lying[5] = char(0x7F);
  write(dir + "/header_length_lies.safetensors", lying);
  std::string flipped = real;
  flipped[20] = '{';
  write(dir + "/flipped.safetensors", flipped);
  // Headers that are valid JSON but wrong: overflowing shape, unknown dtype, overlapping offsets, NaN data.
  write(dir + "/shape_overflow.safetensors",
        safetensors(R"({"head.bias":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})",
                    ""));
  write(
      dir + "/dtype.safetensors",
      safetensors(R"({"head.bias":{"dtype":"F16","shape":[3],"data_offsets":[0,6]}})", std::string(6, '\0')));
  write(dir + "/overlap.safetensors", safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                                  R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                                  std::string(4, '\0')));
  const float nan_bias[3] = {0.0f, std::numeric_limits<float>::quiet_NaN(), 1.0f};
  write(dir + "/nan_bias.safetensors",
        safetensors(R"({"head.bias":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})",
                    std::string(reinterpret_cast<const char*>(nan_bias), sizeof nan_bias)));
}

void json_seeds(const std::string& dir) {
  const std::string deepest = std::string(64, '[') + "1" + std::string(64, ']');  // the nesting limit
  const std::string texts[] = {
      R"({"__metadata__":{"step":"100"},"w":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}})",
      R"([1,-0,0.5,1e308,-1e-308,9223372036854775807,-9223372036854775808,9.3e18,1.7976931348623157e308])",
      R"(["\u00e9\ud83d\ude00\n\t\"\\\/", "", "\u0000"])",
      R"({"a":{"b":{"c":[[[[true,false,null]]]]}}})",
      R"({"dup":1,"dup":2})",
      deepest,
      R"({"unterminated": [1, 2)",
      "\"\xFF\xFE invalid utf-8\"",
  };
  int i = 0;
  for (const std::string& text : texts) write(dir + "/seed" + std::to_string(i++) + ".json", text);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: fuzz_seeds CHECKPOINT_DIR JSON_DIR\n";
    return 2;
  }
  try {
    checkpoint_seeds(argv[1]);
    json_seeds(argv[2]);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
