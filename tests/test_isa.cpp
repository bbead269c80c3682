// The instruction-set switch (tensor/simd/isa.h): what the CPU supports, set_isa for tests and benchmarks,
// and QKV_ISA, read once per process, so it is tried on the example programs in processes of their own.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <cmath>
#include <string>

#include "helpers.h"
#include "run_program.h"
#include "tensor/creation.h"
#include "tensor/dropout.h"
#include "tensor/random.h"
#include "tensor/simd/isa.h"

using namespace qkv;
using Catch::Contains;

TEST_CASE("isa: the portable path is always there, and set_isa refuses what the CPU cannot run") {
  testing::RestoreIsa restore;
  const std::vector<simd::Isa> isas = simd::supported_isas();
  REQUIRE(!isas.empty());
  CHECK(isas.front() == simd::Isa::portable);
  CHECK(simd::cpu_supports(simd::Isa::portable));
  for (simd::Isa isa : {simd::Isa::portable, simd::Isa::avx2, simd::Isa::avx512}) {
    INFO(simd::isa_name(isa));
    if (simd::cpu_supports(isa)) {
      simd::set_isa(isa);
      CHECK(simd::active_isa() == isa);
    } else {
      CHECK_THAT(ERROR_OF(simd::set_isa(isa)),
                 Contains("set_isa") && Contains(std::string("cannot run ") + simd::isa_name(isa)));
    }
  }
}

TEST_CASE("isa: dropout draws the same mask on every path, and each path is the one asked for") {
  // The loop is compiled three times (portable, AVX2, AVX-512) from one body: the same integer draws and
  // one multiply per entry, so the bits agree; NaN and inf pass through kept entries.
  testing::RestoreIsa restore;
  Generator gen(5);
  Tensor x = randn({1037}, gen);
  x.mutable_data()[3] = NAN;
  x.mutable_data()[7] = INFINITY;
  std::vector<Tensor> results;
  for (simd::Isa isa : simd::supported_isas()) {
    simd::set_isa(isa);
    results.push_back(kernels::dropout(x, 0.3f, Generator(9).split()));
  }
  for (const Tensor& y : results) {
    CHECK(testing::bitwise_equal(y, results.front()));
  }
  int64_t dropped = 0;
  for (float v : results.front().to_vector()) dropped += v == 0.0f;
  CHECK(dropped > 250);  // about 30% of 1037
  CHECK(dropped < 370);
}

#ifdef QKV_EXAMPLES_DIR
TEST_CASE("isa: QKV_ISA picks the path, and a bad value is a named error before any work") {
  const std::string fit = testing::example("fit_mlp") + " --steps 50";
  const testing::ProgramRun bad = testing::run_program("QKV_ISA=bogus QKV_NUM_THREADS=2 " + fit);
  CHECK(bad.status != 0);
  CHECK_THAT(bad.output, Contains("QKV_ISA: must be avx512, avx2 or portable, got \"bogus\""));
  const testing::ProgramRun portable = testing::run_program("QKV_ISA=portable " + fit);
  CHECK(portable.status == 0);
  // The default is the best path the CPU has, so naming it changes nothing, to the last printed digit.
  const simd::Isa best = simd::supported_isas().back();
  const testing::ProgramRun named =
      testing::run_program(std::string("QKV_ISA=") + simd::isa_name(best) + " " + fit);
  const testing::ProgramRun unnamed = testing::run_program(fit);
  CHECK(named.status == 0);
  CHECK(named.output == unnamed.output);
}

// The bytes of a file ("" if it cannot be read).
std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_CASE("isa: a seed trains the same checkpoint bytes under QKV_ISA=avx2 and avx512, with 1 and 2 threads") {
  // The promise of isa.h, end to end: every kernel of a training step (GEMM, softmax, layer norm, GELU,
  // dropout, Adam) gives the same bits on both paths and any thread count. The reverse model (encoder-
  // decoder, ragged batches, dropout) and the sort model (GPT) train for a few steps in processes of their
  // own, so QKV_ISA is read as a user sets it.
  if (!simd::cpu_supports(simd::Isa::avx512) || !simd::cpu_supports(simd::Isa::avx2)) {
    WARN("SKIPPED: this CPU (or build) lacks AVX-512 or AVX2, so there are not two paths to compare");
    return;
  }
  for (const auto& [example, file] : {std::pair<std::string, std::string>{"train_reverse", "reverse.safetensors"},
                                       {"train_sort", "sort.safetensors"}}) {
    std::string first;
    for (const char* isa : {"avx2", "avx512"})
      for (int threads : {1, 2}) {
        const std::string out = testing::scratch_path("isa_bits", example + "_" + isa + std::to_string(threads));
        std::filesystem::remove_all(out);
        const testing::ProgramRun run =
            testing::run_program(std::string("QKV_ISA=") + isa + " QKV_NUM_THREADS=" + std::to_string(threads) +
                                 " " + testing::example(example) + " --steps 30 --overwrite --out " + out);
        INFO(example << " QKV_ISA=" << isa << " threads=" << threads << "\n" << run.output);
        REQUIRE(run.status == 0);
        const std::string bytes = file_bytes(out + "/" + file);
        REQUIRE(bytes.size() > 1000);
        if (first.empty()) first = bytes;
        CHECK(bytes == first);
      }
  }
}
#endif
