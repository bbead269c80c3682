// libFuzzer target: nn::load_checkpoint on any file, into a small model and its Adam state. A malformed file
// must throw qkv::Error and change nothing (every parameter and optimizer tensor keeps its bytes); a file
// that loads must leave only finite numbers behind. Any other exception, a crash or a sanitizer report is a
// finding. Built and run by tests/run_fuzz.sh; seeds come from fuzz_seeds.cpp.
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "fuzz_model.h"
#include "nn/io/checkpoint.h"

namespace {

std::vector<std::vector<float>> snapshot(const qkv::NamedTensors& tensors) {
  std::vector<std::vector<float>> values;
  for (const auto& [name, t] : tensors) values.push_back(t.to_vector());
  return values;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // One file per fuzzing process, in memory where /dev/shm exists.
  static const std::string path = std::string(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") +
                                  "/qkv_fuzz_" + std::to_string(getpid()) + ".safetensors";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  static qkv::fuzz::SmallModel model;
  static qkv::nn::Adam optimizer(model.named_parameters(), 1e-3f);
  qkv::NamedTensors everything = model.named_parameters();
  for (const auto& entry : optimizer.state()) everything.push_back(entry);
  const std::vector<std::vector<float>> before = snapshot(everything);
  try {
    qkv::nn::load_checkpoint(path, model, &optimizer);
  } catch (const qkv::Error&) {
    if (snapshot(everything) != before) std::abort();  // a refused load changed the model
    return 0;
  }
  for (const std::vector<float>& values : snapshot(everything))
    for (const float v : values)
      if (!std::isfinite(v)) std::abort();  // a non-finite weight was let in
  return 0;
}
