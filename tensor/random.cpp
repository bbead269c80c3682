// The global generator (see random.h).
#include "tensor/random.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "tensor/error.h"

namespace qkv {

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void Generator::seed_with(uint64_t seed) {
  // SplitMix64 spreads one seed over the four words of state (never all zero).
  const CounterStream splitmix(seed);
  for (int i = 0; i < 4; ++i) s_[i] = splitmix.bits(i);
  has_spare_ = false;
}

uint64_t Generator::next_u64() {  // xoshiro256**
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

float Generator::uniform() { return static_cast<float>(next_u64() >> 40) * (1.0f / 16777216.0f); }

void Generator::fill_uniform(float* out, int64_t n) {
  // The state lives in registers for the whole loop instead of one call per number.
  for (int64_t i = 0; i < n; ++i) out[i] = uniform();
}

float Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_normal_;
  }
  // Box-Muller in double: u1 in (0, 1] so log(u1) is finite.
  const double u1 = (static_cast<double>(next_u64() >> 11) + 1.0) * 0x1.0p-53;
  const double u2 = static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
  const double r = std::sqrt(-2.0 * std::log(u1)), theta = 2.0 * M_PI * u2;
  spare_normal_ = static_cast<float>(r * std::sin(theta));
  has_spare_ = true;
  return static_cast<float>(r * std::cos(theta));
}

int64_t Generator::randint(int64_t lo, int64_t hi) {
  if (hi <= lo) fail("randint", "empty range [" + std::to_string(lo) + ", " + std::to_string(hi) + ")");
  return lo + static_cast<int64_t>(next_u64() % static_cast<uint64_t>(hi - lo));
}

std::string Generator::state() const {
  std::string out;
  char buf[24];
  for (uint64_t w : s_) {
    std::snprintf(buf, sizeof buf, "%016llx ", static_cast<unsigned long long>(w));
    out += buf;
  }
  uint32_t spare_bits;
  std::memcpy(&spare_bits, &spare_normal_, sizeof spare_bits);
  std::snprintf(buf, sizeof buf, "%08x %d", spare_bits, has_spare_ ? 1 : 0);
  return out + buf;
}

void Generator::set_state(const std::string& state) {
  unsigned long long w[4];
  unsigned spare_bits;
  int has_spare;
  if (std::sscanf(state.c_str(), "%llx %llx %llx %llx %x %d", &w[0], &w[1], &w[2], &w[3], &spare_bits,
                  &has_spare) != 6)
    fail("Generator::set_state", "not a generator state: '" + state + "'");
  for (int i = 0; i < 4; ++i) s_[i] = w[i];
  std::memcpy(&spare_normal_, &spare_bits, sizeof spare_bits);
  has_spare_ = has_spare != 0;
}

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().seed_with(seed); }

}  // namespace qkv
