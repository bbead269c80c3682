// One seeded random number generator for all of qkv: init, dropout and the toy data draw from it, so the
// same seed gives the same run on every machine. Written out (xoshiro256** with SplitMix64 seeding, and
// Box-Muller for normals) rather than <random>'s distributions, whose outputs differ between libraries.
#pragma once
#include <cstdint>
#include <string>

namespace qkv {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { seed_with(seed); }
  void seed_with(uint64_t seed);
  uint64_t next_u64();
  float uniform();                           // in [0, 1), 24 random bits
  void fill_uniform(float* out, int64_t n);  // n calls of uniform() in one loop: the same numbers
  float normal();                            // mean 0, standard deviation 1
  int64_t randint(int64_t lo, int64_t hi);   // in [lo, hi)

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
