// One seeded random number generator for all of qkv: init, dropout and the toy data draw from it, so the
// same seed gives the same run on every machine. Written out (xoshiro256** with SplitMix64 seeding, and
// Box-Muller for normals) rather than <random>'s distributions, whose outputs differ between libraries.
// CounterStream is the second kind: numbers any thread can draw in any order (dropout's masks use it).
#pragma once
#include <cstdint>
#include <string>

namespace qkv {

// SplitMix64's mixing function: a bijection on 64-bit words whose outputs, for inputs a fixed odd step
// apart, pass the standard statistical tests (BigCrush). Seeding and CounterStream both use it.
inline uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A counter-based stream: bits(i) depends only on the key and i, so draw i needs no draws before it and
// any thread may make it. Work split over threads then draws the same numbers for any thread count,
// which a sequential generator cannot promise. (PyTorch's CUDA dropout does the same with Philox.)
// bits(i) is output i of SplitMix64 seeded with key: mix(key + (i + 1) * golden-ratio step). Two streams
// of n draws share numbers only if their random keys fall within n steps: odds about 2n / 2^64.
// bits32(i) is a cheaper 32-bit draw for one entry of a mask, built only from 32-bit multiplies so that a
// loop over i vectorises (AVX2 has no 64-bit multiply): a 32-bit Weyl step i * golden + key, then
// MurmurHash3's 32-bit finaliser (xor-shifts and two odd multiplies, each step invertible: distinct
// counters give distinct outputs, and one flipped input bit flips about half the output bits).
class CounterStream {
 public:
  explicit CounterStream(uint64_t key) : key_(key) {}
  uint64_t bits(uint64_t i) const { return splitmix64_mix(key_ + (i + 1) * 0x9E3779B97F4A7C15ull); }
  uint32_t bits32(uint64_t i) const { return bits32_in(key32(i >> 32), static_cast<uint32_t>(i)); }
  // bits32 in two steps, for loops: key32 of the high half of i (the same for all i below 4G, so taken
  // once per loop), then bits32_in per entry, all in 32-bit arithmetic.
  uint32_t key32(uint64_t high) const {
    return static_cast<uint32_t>(key_) ^
           static_cast<uint32_t>(splitmix64_mix((key_ >> 32) + high * 0x9E3779B97F4A7C15ull));
  }
  static uint32_t bits32_in(uint32_t key32, uint32_t low) {
    uint32_t h = low * 0x9E3779B9u + key32;
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    return h ^ (h >> 16);
  }

 private:
  uint64_t key_;
};

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { seed_with(seed); }
  void seed_with(uint64_t seed);
  uint64_t next_u64();
  float uniform();                           // in [0, 1), 24 random bits
  void fill_uniform(float* out, int64_t n);  // n calls of uniform() in one loop: the same numbers
  float normal();                            // mean 0, standard deviation 1
  int64_t randint(int64_t lo, int64_t hi);   // in [lo, hi)
  CounterStream split() { return CounterStream(next_u64()); }  // costs one draw, however much it yields

  // The whole state as text (checkpoints keep it, so a resumed run draws what the original would have).
  std::string state() const;
  void set_state(const std::string& state);  // throws on text that state() did not make

 private:
  uint64_t s_[4];
  float spare_normal_ = 0;
  bool has_spare_ = false;
};

Generator& default_generator();   // the global one (not thread-safe: draw from one thread)
void manual_seed(uint64_t seed);  // reseed the global generator

}  // namespace qkv
