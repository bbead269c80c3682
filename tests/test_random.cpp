// Tests for tensor/random.h: the generators against published reference outputs (so a run seeded the
// same draws the same numbers on every machine), and the counter-based stream's order independence.
#include <algorithm>
#include <cstdlib>
#include <vector>

#include "catch.h"
#include "tensor/random.h"

using namespace qkv;

TEST_CASE("random: Generator draws xoshiro256starstar seeded by SplitMix64, as the reference code does") {
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

TEST_CASE("random: CounterStream draws the same numbers in any order and split costs one draw") {
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

TEST_CASE(
    "random: CounterStream::bits32 is uniform, distinct per entry, and uncorrelated with its neighbour") {
  const CounterStream stream = Generator(3).split();
  constexpr int kN = 1 << 20;
  std::vector<uint32_t> u(kN);
  for (int i = 0; i < kN; ++i) u[i] = stream.bits32(static_cast<uint64_t>(i));
  // 16 equal bins of the top 4 bits: each holds kN/16 = 65536 +- 5 sigma (sigma ~ 248)
  std::vector<int> bins(16, 0);
  for (uint32_t v : u) ++bins[v >> 28];
  for (int b : bins) CHECK(std::abs(b - kN / 16) < 5 * 248);
  // neighbours: both below 1/2 a quarter of the time, as for independent draws (sigma ~ 443 over kN)
  int both_low = 0;
  for (int i = 0; i + 1 < kN; ++i) both_low += (u[i] < 0x80000000u) && (u[i + 1] < 0x80000000u);
  CHECK(std::abs(both_low - kN / 4) < 5 * 443);
  // the finaliser is a bijection of the 32-bit Weyl step, so the first 2^20 counters never collide
  std::vector<uint32_t> sorted = u;
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  // past 4G entries the high half of the counter changes the key: entry 2^32 is not entry 0 again
  CHECK(stream.bits32(uint64_t{1} << 32) != stream.bits32(0));
  CHECK(stream.bits32((uint64_t{1} << 32) + 5) == CounterStream::bits32_in(stream.key32(1), 5u));
}
