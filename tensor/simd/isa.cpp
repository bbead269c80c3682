// CPU features and the instruction-set switch (see isa.h).
#include "tensor/simd/isa.h"

#include <atomic>
#include <cstdlib>
#include <string>

#include "tensor/error.h"

namespace qkv::simd {
namespace {

constexpr Isa kAll[] = {Isa::portable, Isa::avx2, Isa::avx512};

bool cpu_has(Isa isa) {
  if (isa == Isa::portable) return true;
#if QKV_HAVE_X86_KERNELS
  __builtin_cpu_init();  // needed before main (a static initializer may be the first caller)
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (isa == Isa::avx2) return avx2;
#if QKV_EMULATED_AVX512
  return avx2;  // a test build whose AVX-512 kernels are compiled for AVX2 (CMake's QKV_EMULATE_AVX512)
#endif
  return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

// The path named by QKV_ISA, or the best this CPU runs.
Isa initial_isa() {
  const char* env = std::getenv("QKV_ISA");
  if (!env) return supported_isas().back();
  for (Isa isa : kAll)
    if (std::string(env) == isa_name(isa)) {
      if (!cpu_supports(isa)) fail("QKV_ISA", std::string("this CPU (or build) cannot run ") + isa_name(isa));
      return isa;
    }
  fail("QKV_ISA", "must be avx512, avx2 or portable, got " + quote(env));
}

constexpr int kUnset = -1;
std::atomic<int> active{kUnset};

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    case Isa::portable: break;
  }
  return "portable";
}

bool cpu_supports(Isa isa) {
  static const bool has[] = {cpu_has(Isa::portable), cpu_has(Isa::avx2), cpu_has(Isa::avx512)};
  return has[static_cast<int>(isa)];
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> isas;
  for (Isa isa : kAll)
    if (cpu_supports(isa)) isas.push_back(isa);
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

bool avx2_loops() {
#if QKV_HAVE_X86_KERNELS
  return active_isa() != Isa::portable;
#else
  return false;
#endif
}

void set_isa(Isa isa) {
  if (!cpu_supports(isa)) fail("set_isa", std::string("this CPU (or build) cannot run ") + isa_name(isa));
  active.store(static_cast<int>(isa), std::memory_order_relaxed);
}

}  // namespace qkv::simd
