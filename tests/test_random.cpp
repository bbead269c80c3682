// Tests for tensor/random.h: the generators against published reference outputs (so a run seeded the
// same draws the same numbers on every machine), and the counter-based stream's order independence.
#include <vector>

#include "catch.h"
#include "tensor/random.h"

using namespace qkv;

TEST_CASE("random: Generator draws xoshiro256** seeded by SplitMix64, as the reference code does") {
  // First outputs of the authors' C code (prng.di.unimi.it) with the state filled by SplitMix64 from 0 and 42
  Generator zero(0), answer(42);
  CHECK(zero.next_u64() == 0x99ec5f36cb75f2b4ull);
  CHECK(zero.next_u64() == 0xbf6e1f784956452aull);
  CHECK(answer.next_u64() == 0x15780b2e0c2ec716ull);
  CHECK(answer.next_u64() == 0x6104d9866d113a7eull);
}

TEST_CASE("random: CounterStream(key).bits(i) is output i of SplitMix64 seeded with key") {
  const CounterStream stream(0);  // SplitMix64 from seed 0 starts e220a8397b1dcdaf 6e789e6aa1b965f4 ...
  CHECK(stream.bits(0) == 0xe220a8397b1dcdafull);
  CHECK(stream.bits(1) == 0x6e789e6aa1b965f4ull);
  CHECK(stream.bits(2) == 0x06c45d188009454full);
}

TEST_CASE("random: CounterStream draws the same numbers in any order; split costs one draw") {
  Generator gen(7), twin(7);
  const CounterStream stream = gen.split();
  twin.next_u64();
  CHECK(gen.next_u64() == twin.next_u64());  // split took exactly one draw, however much the stream yields
  std::vector<uint64_t> forward, backward(1000);
  for (uint64_t i = 0; i < 1000; ++i) forward.push_back(stream.bits(i));
  for (uint64_t i = 1000; i-- > 0;) backward[i] = stream.bits(i);
  CHECK(forward == backward);
  CHECK(forward[0] != forward[1]);
  CHECK(Generator(7).split().bits(5) == forward[5]);  // same seed, same stream
}
