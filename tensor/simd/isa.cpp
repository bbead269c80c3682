// CPU features and the instruction-set switch (see isa.h).
#include "tensor/simd/isa.h"

#include <atomic>
#include <cstdlib>
#include <string>

#include "tensor/error.h"

namespace qkv::simd {
namespace {

bool cpu_has_avx2_fma() {
#if QKV_HAVE_AVX2_KERNELS
  __builtin_cpu_init();  // needed before main (a static initializer may be the first caller)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

// The path named by QKV_ISA, or the best this CPU runs.
Isa initial_isa() {
  const char* env = std::getenv("QKV_ISA");
  if (!env) return cpu_supports(Isa::avx2) ? Isa::avx2 : Isa::portable;
  for (Isa isa : {Isa::portable, Isa::avx2})
    if (std::string(env) == isa_name(isa)) {
      if (!cpu_supports(isa)) fail("QKV_ISA", std::string("this CPU (or build) cannot run ") + isa_name(isa));
      return isa;
    }
  fail("QKV_ISA", "must be avx2 or portable, got " + quote(env));
}

constexpr int kUnset = -1;
std::atomic<int> active{kUnset};

}  // namespace

const char* isa_name(Isa isa) { return isa == Isa::avx2 ? "avx2" : "portable"; }

bool cpu_supports(Isa isa) {
  static const bool avx2 = cpu_has_avx2_fma();
  return isa == Isa::portable || avx2;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> isas{Isa::portable};
  if (cpu_supports(Isa::avx2)) isas.push_back(Isa::avx2);
  return isas;
}

Isa active_isa() {
  int isa = active.load(std::memory_order_relaxed);
  if (isa == kUnset) {  // first use: every thread that gets here computes the same answer
    isa = static_cast<int>(initial_isa());
    active.store(isa, std::memory_order_relaxed);
  }
  return static_cast<Isa>(isa);
}

void set_isa(Isa isa) {
  if (!cpu_supports(isa)) fail("set_isa", std::string("this CPU (or build) cannot run ") + isa_name(isa));
  active.store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace qkv::simd
