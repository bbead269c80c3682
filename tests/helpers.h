// Small helpers shared by the tests: closeness checks that print both tensors on failure.
#pragma once
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>

#include "catch.h"
#include "tensor/parallel.h"
#include "tensor/simd/isa.h"
#include "tensor/tensor.h"

namespace qkv::testing {

// Same shape and |a - b| <= atol + rtol * |b| everywhere.
inline bool allclose(const Tensor& a, const Tensor& b, float atol = 1e-5f, float rtol = 1e-4f) {
  if (a.shape() != b.shape()) return false;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const float x = a.data()[i], y = b.data()[i];
    if (std::isnan(x) != std::isnan(y)) return false;
    if (std::isinf(y) && x == y) continue;
    if (!(std::fabs(x - y) <= atol + rtol * std::fabs(y))) return false;
  }
  return true;
}

// Same shape and the very same bits: compared as bytes, so NaN equals the same NaN and -0 differs from +0
// (float's == would say the opposite of both).
inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  return x.empty() || std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;  // no null to memcmp
}

// Put in a test that changes the thread count: restores the count it found when the test ends, even by a
// failed REQUIRE, so no test runs with a count another one left behind.
struct RestoreThreads {
  int threads = get_num_threads();
  ~RestoreThreads() { set_num_threads(threads); }
};

// The same for the instruction set of the SIMD kernels (a test that compares the paths changes it).
struct RestoreIsa {
  simd::Isa isa = simd::active_isa();
  ~RestoreIsa() { simd::set_isa(isa); }
};

// The message of the qkv::Error that f throws, or "(no error)".
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const qkv::Error& e) {
    return e.what();
  }
  return "(no error)";
}

// A path in the tests' scratch folder (QKV_TEST_TMP/<folder>/<name>), the folder made if missing.
inline std::string scratch_path(const std::string& folder, const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(QKV_TEST_TMP) / folder;
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

}  // namespace qkv::testing

#define CHECK_CLOSE(a, b, ...)                                \
  do {                                                        \
    INFO("left:  " << (a) << "\nright: " << (b));             \
    CHECK(::qkv::testing::allclose((a), (b), ##__VA_ARGS__)); \
  } while (0)

// The error message of an expression that must throw qkv::Error ("(no error)" if it does not throw).
#define ERROR_OF(expr) ::qkv::testing::error_of([&] { (void)(expr); })
