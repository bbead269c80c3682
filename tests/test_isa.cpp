// The instruction-set switch (tensor/simd/isa.h): what the CPU supports, set_isa for tests and benchmarks,
// and QKV_ISA, read once per process, so it is tried on the example programs in processes of their own.
#include <string>

#include "helpers.h"
#include "run_program.h"
#include "tensor/simd/isa.h"

using namespace qkv;
using Catch::Contains;

TEST_CASE("isa: the portable path is always there, and set_isa refuses what the CPU cannot run") {
  testing::RestoreIsa restore;
  const std::vector<simd::Isa> isas = simd::supported_isas();
  REQUIRE(!isas.empty());
  CHECK(isas.front() == simd::Isa::portable);
  CHECK(simd::cpu_supports(simd::Isa::portable));
  for (simd::Isa isa : {simd::Isa::portable, simd::Isa::avx2}) {
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

#ifdef QKV_EXAMPLES_DIR
TEST_CASE("isa: QKV_ISA picks the path, and a bad value is a named error before any work") {
  const std::string fit = testing::example("fit_mlp") + " --steps 50";
  const testing::ProgramRun bad = testing::run_program("QKV_ISA=bogus QKV_NUM_THREADS=2 " + fit);
  CHECK(bad.status != 0);
  CHECK_THAT(bad.output, Contains("QKV_ISA: must be avx2 or portable, got \"bogus\""));
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
#endif
