// GEMM: the naive triple loop (test oracle) and the BLIS-style blocked driver: cache blocking (MC/KC/NC),
// packing into contiguous zero-padded panels (pack.cpp), five loops around an MR x NR micro-kernel.
// Leaves out: alpha/beta scaling (C = op(A) op(B), or += with accumulate), strided columns, other types.
#include "tensor/gemm/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "tensor/error.h"
#include "tensor/gemm/micro_kernel.h"
#include "tensor/gemm/pack.h"
#include "tensor/parallel.h"
#include "tensor/simd/isa.h"

namespace qkv {
namespace {

// Kernel, MicroTile, tile_rows (micro_kernel.h); op_a, op_b, pack_a, pack_b, the buffers (pack.h)
using namespace gemm_detail;

// Register budgets: see the micro-kernels (AVX2: a 6 x 16 tile in 12 of the 16 ymm registers; AVX-512: a
// 14 x 32 tile in 28 of the 32 zmm registers). Cache budget for one core (Zen 4: 32 KiB L1d, 1 MiB L2;
// Sapphire Rapids: 48 KiB, 2 MiB; Haswell-class CPUs are like Zen 4):
//   L1: the b_panel sliver in use (KC x NR = 256 x 16 floats = 16 KiB, AVX-512 32 KiB) plus one a sliver
//       (KC x MR = 6 KiB, AVX-512 14 KiB) stay resident while the 1st loop walks down the A block.
//   L2: the A block (MC x KC = 144 x 256 floats = 144 KiB, packed or read in place, see read_a_in_place)
//       is reused by every sliver of B.
//   L3: the packed B panel (KC x NC = 256 x 4080 floats = 4 MiB) is reused by every A block.
// KC is the same for every kernel: it decides where the sum over k is cut into slices, and so the bits.
// MC and NC are rounded down to multiples of the kernel's MR and NR (which changes no sum).
constexpr int64_t kKC = 256;
constexpr int64_t kMC = 144;
constexpr int64_t kNC = 4080;
int64_t mc_of(const Kernel& kern) { return kMC / kern.mr * kern.mr; }
int64_t nc_of(const Kernel& kern) { return kNC / kern.nr * kern.nr; }

// Below this many multiply-adds (a few microseconds of work) a product runs on the calling thread. The pool's
// workers spin briefly between jobs (tensor/parallel.cpp), so handing them a block costs about a microsecond.
constexpr int64_t kParallelMinWork = 64 * 64 * 64;
// Up to this many multiply-adds A and B are read in place (direct_gemm): packing costs more than it saves.
constexpr int64_t kDirectMaxWork = 128 * 128 * 128;

// The tiles of t (see MicroTile), `cols` < NR wide (the right edge of C), for a kernel without a narrow
// variant (AVX2, portable; AVX-512 masks its loads and stores instead, Kernel::narrow): each is computed
// whole into a scratch tile, from a zero-padded B sliver, and only its real columns are written, with the
// same additions as a full tile.
[[gnu::noinline]] void edge_tiles(const Kernel& kern, const MicroTile& t, int64_t cols) {
  alignas(64) float scratch[kMaxMR * kMaxNR];
  gemm_detail::for_each_row_tile(t.rows, kern.mr, [&](int64_t i, int64_t rows) {
    for (int64_t s = 0; s < t.tiles; ++s) {
      const MicroTile into_scratch{.rows = rows,
                                   .kc = t.kc,
                                   .a = t.a + i * t.a_row_stride + s * t.a_step,
                                   .a_row_stride = t.a_row_stride,
                                   .a_col_stride = t.a_col_stride,
                                   .b = t.b + s * t.b_step,
                                   .b_row_stride = t.b_row_stride,
                                   .c = scratch,
                                   .ldc = kern.nr,
                                   .accumulate = false};
      kern.run(into_scratch);
      gemm_detail::store_tile(t, i, s, rows, cols, scratch, kern.nr);
    }
  });
}

inline void micro_tiles(const Kernel& kern, const MicroTile& t, int64_t cols) {
  if (t.tiles == 0) return;
  if (cols == kern.nr) return kern.run(t);
  if (!kern.narrow) return edge_tiles(kern, t, cols);
  MicroTile narrow = t;
  narrow.cols = cols;
  kern.narrow(narrow);
}

// Whether blocked_gemm reads A where it is instead of packing it. Packing an A block costs about one pass
// of the micro-kernel over it, repaid only across the N / NR slivers of B that sweep it: for a narrow C (a
// Transformer's N = 64..512) that is 10-25% of the time. A row-major A read in place is as fast for the
// kernel: the MR rows of a tile are MR streams the prefetcher follows, and each 64-byte line serves 16
// values of k. Measured (bench_matmul, bench_train, one run each): 1T square n = 256..1024 +2..6%, a
// training step -7..9%. A stored transposed (trans_a, every weight gradient g^T x) gives the kernel one
// cache line per k for MR floats: still better than packing when C is at most 4 slivers wide (64 x 64 x
// 768: 92 -> 107 GFLOPS, a training step -3%), worse from 128 columns (1024^3: 105 -> 88). B is always
// packed: in place, its rows ldb apart would fight over a few L1 sets.
// The same holds for a row-major A whose rows are a multiple of 2 KiB apart (lda a multiple of 512, as in
// every power-of-two square from 512): the L1 repeats its sets every 4 KiB (64 sets of 64-byte lines, on
// Zen 4/5 and Sapphire Rapids alike), so the MR rows' lines land in two sets and evict each other and the
// B sliver. Packed, that A runs at the packed kernel's speed (AVX-512, 1 thread, measured side by side:
// 512^3 150 -> 157 GFLOPS, 1024^3 140 -> 152; AVX2 within noise; 480, 600, 1000 and the training shapes,
// lda 128..512 floats apart from these, no gain).
constexpr int64_t kTransposedAInPlaceMaxN = 64;
constexpr int64_t kL1SetPeriodFloats = 512;  // 2 KiB: half the 4 KiB set period, so at most 2 sets
// `cols` is the width of the block of C being computed (a thread's share of the columns, or all of them).
bool read_a_in_place(const GemmArgs& g, int64_t cols) {
  if (g.trans_a) return cols <= kTransposedAInPlaceMaxN;
  return g.lda % kL1SetPeriodFloats != 0;
}

// Where the micro-kernel finds the MR-row slivers of op(A)'s block at rows ic.., depth pc..: packed, or
// in place (see read_a_in_place); tile_step moves to the next MR rows.
struct ASource {
  const float* a;
  int64_t row_stride, col_stride, tile_step;
};
ASource a_source(const GemmArgs& g, int64_t mr, bool in_place, const float* packed, int64_t ic, int64_t pc,
                 int64_t kc) {
  if (!in_place) return {packed, 1, mr, mr * kc};
  if (g.trans_a) return {g.A + pc * g.lda + ic, 1, g.lda, mr};  // A stored K x M: A[k * lda + i]
  return {g.A + ic * g.lda + pc, g.lda, 1, mr * g.lda};         // A[i * lda + k]
}

// The 3rd, 2nd and 1st loops around the micro-kernel for one packed B panel (columns jc..jc+nc, depth
// pc..pc+kc): rows [m_begin, m_end) of C, an A block of MC rows at a time (packed into packed_a unless read
// in place), across every NR-wide sliver of the panel.
void panel_rows(const GemmArgs& g, const Kernel& kern, const float* packed_b, int64_t jc, int64_t nc,
                int64_t pc, int64_t kc, int64_t m_begin, int64_t m_end, bool a_in_place, float* packed_a) {
  const int64_t MR = kern.mr, NR = kern.nr, MC = mc_of(kern);
  // Later slices add to the first; the first adds the bias row, if there is one.
  const bool accumulate = g.accumulate || pc > 0 || g.bias;
  const float* bias = pc == 0 && g.bias ? g.bias + jc : nullptr;
  for (int64_t ic = m_begin; ic < m_end; ic += MC) {  // 3rd loop: MC rows of C
    const int64_t mc = std::min(MC, m_end - ic);
    if (!a_in_place) pack_a(g, ic, mc, pc, kc, MR, packed_a);
    const ASource src = a_source(g, MR, a_in_place, packed_a, ic, pc, kc);
    for (int64_t jr = 0; jr < nc; jr += NR) {  // 2nd loop: one NR-wide B sliver (stays in L1)
      // 1st loop, inside the kernel: down the MR-tall A slivers, then the short one at the bottom.
      MicroTile t{.rows = MR,
                  .kc = kc,
                  .a = src.a,
                  .a_row_stride = src.row_stride,
                  .a_col_stride = src.col_stride,
                  .b = packed_b + jr * kc,
                  .b_row_stride = NR,
                  .c = g.C + ic * g.ldc + jc + jr,
                  .ldc = g.ldc,
                  .accumulate = accumulate,
                  .tiles = mc / MR,
                  .a_step = src.tile_step,
                  .c_step = MR * g.ldc,
                  .add = bias ? bias + jr : nullptr,  // the same NR bias values for every row
                  .add_ld = 0,
                  .add_step = 0};
      const int64_t cols = std::min(NR, nc - jr);
      micro_tiles(kern, t, cols);
      t.a += t.tiles * t.a_step;
      t.c += t.tiles * t.c_step;
      t.rows = mc % MR;
      t.tiles = t.rows > 0 ? 1 : 0;
      micro_tiles(kern, t, cols);
    }
  }
}

// The blocked algorithm, serially, on the block C[m_begin:m_end, n_begin:n_end]. Each element of C gets
// the same sums in the same order whatever block it falls in, so any split of C gives bitwise equal results.
void blocked_gemm(const GemmArgs& g, const Kernel& kern, int64_t m_begin, int64_t m_end, int64_t n_begin,
                  int64_t n_end) {
  const int64_t MR = kern.mr, NR = kern.nr, MC = mc_of(kern), NC = nc_of(kern);
  const int64_t nc_max = std::min(NC, (n_end - n_begin + NR - 1) / NR * NR);
  const int64_t mc_max = std::min(MC, (m_end - m_begin + MR - 1) / MR * MR);
  float* packed_b = packed_b_buffer().get(kKC * nc_max);
  const bool a_in_place = read_a_in_place(g, n_end - n_begin);
  float* packed_a = a_in_place ? nullptr : packed_a_buffer().get(kKC * mc_max);

  for (int64_t jc = n_begin; jc < n_end; jc += NC) {  // 5th loop around micro-kernel: NC columns of C
    const int64_t nc = std::min(NC, n_end - jc);
    for (int64_t pc = 0; pc < g.K; pc += kKC) {  // 4th loop: a KC-deep slice of the sum
      const int64_t kc = std::min(kKC, g.K - pc);
      pack_b(g, pc, kc, jc, nc, NR, packed_b);
      panel_rows(g, kern, packed_b, jc, nc, pc, kc, m_begin, m_end, a_in_place, packed_a);
    }
  }
}

// The blocked algorithm on all of C with the rows split across threads, which share each packed B panel:
// the threads pack it together (each a share of its slivers), then each computes its rows from it. Each
// thread packing the whole panel for itself, as blocked_gemm on a block of rows would, repeats that copy
// once per thread: in a Transformer's training step B is a weight or a batch of activations (every
// x W^T, g W and g^T x). Packing took 11.5% of a character GPT's step at 2 threads, 9.4% with shared
// panels (perf, AVX2). Two hand-offs to the pool per panel instead of one per product; the same bits (the
// same kernel calls on the same data).
void shared_panel_gemm(const GemmArgs& g, const Kernel& kern) {
  const int64_t MR = kern.mr, NR = kern.nr, MC = mc_of(kern), NC = nc_of(kern);
  const int64_t nc_max = std::min(NC, (g.N + NR - 1) / NR * NR);
  float* packed_b = packed_b_buffer().get(kKC * nc_max);  // the calling thread's, shared for the call
  const bool a_in_place = read_a_in_place(g, g.N);
  const int64_t row_units = (g.M + MR - 1) / MR;
  for (int64_t jc = 0; jc < g.N; jc += NC) {
    const int64_t nc = std::min(NC, g.N - jc);
    const int64_t slivers = (nc + NR - 1) / NR;
    for (int64_t pc = 0; pc < g.K; pc += kKC) {
      const int64_t kc = std::min(kKC, g.K - pc);
      parallel_for(slivers, 1, [&](int64_t s_begin, int64_t s_end) {  // slivers s_begin.. of the panel
        const int64_t first = s_begin * NR, last = std::min(nc, s_end * NR);
        pack_b(g, pc, kc, jc + first, last - first, NR, packed_b + first * kc);
      });
      parallel_for(row_units, 1, [&](int64_t u_begin, int64_t u_end) {
        const int64_t m_begin = u_begin * MR, m_end = std::min(u_end * MR, g.M);
        const int64_t mc_max = std::min(MC, (m_end - m_begin + MR - 1) / MR * MR);
        float* packed_a = a_in_place ? nullptr : packed_a_buffer().get(kKC * mc_max);
        panel_rows(g, kern, packed_b, jc, nc, pc, kc, m_begin, m_end, a_in_place, packed_a);
      });
    }
  }
}

// Small products (everything fits in L2): no cache blocking and no packing, the micro-kernel reads A and B
// where they are. Only B slivers that cannot be read in place are packed, once, up front: B transposed, and
// the narrow right edge of a kernel that cannot mask it (Kernel::narrow). Same contract as blocked_gemm.
void direct_gemm(const GemmArgs& g, const Kernel& kern, int64_t m_begin, int64_t m_end, int64_t n_begin,
                 int64_t n_end) {
  const int64_t NR = kern.nr;
  const int64_t n = n_end - n_begin, full_cols = n / NR * NR;
  const int64_t in_place = g.trans_b ? 0 : kern.narrow ? n : full_cols;  // columns of B read where they are
  float* packed_b = nullptr;
  if (in_place < n) {
    packed_b = packed_b_buffer().get(g.K * ((n - in_place + NR - 1) / NR * NR));
    pack_b(g, 0, g.K, n_begin + in_place, n - in_place, NR, packed_b);
  }

  // The 2nd and 1st loops around the micro-kernel, inside it: each tile of A rows (read in place, stays in
  // L1) across the NR-wide slivers of B, then the narrow right edge.
  // op(B)(k, j) in place is B[k * ldb + j], else packed_b sliver row k.
  const ASource a = a_source(g, kern.mr, /*in_place=*/true, nullptr, m_begin, 0, g.K);
  MicroTile t{.rows = m_end - m_begin,
              .kc = g.K,
              .a = a.a,
              .a_row_stride = a.row_stride,
              .a_col_stride = a.col_stride,
              .b = g.trans_b ? packed_b : g.B + n_begin,
              .b_row_stride = g.trans_b ? NR : g.ldb,
              .c = g.C + m_begin * g.ldc + n_begin,
              .ldc = g.ldc,
              .accumulate = g.accumulate || g.bias,
              .tiles = full_cols / NR,
              .b_step = g.trans_b ? NR * g.K : NR,
              .c_step = NR,
              .add = g.bias ? g.bias + n_begin : nullptr,  // a bias row: the same for every row of C
              .add_ld = 0,
              .add_step = NR};
  micro_tiles(kern, t, NR);
  if (n % NR == 0) return;
  // The narrow right edge, after the full tiles: in place, or the last packed sliver.
  if (in_place == n) {
    t.b = g.B + n_begin + full_cols;
  } else {
    t.b = packed_b + (full_cols - in_place) * g.K;
    t.b_row_stride = NR;
  }
  t.c += full_cols;
  if (t.add) t.add += full_cols;
  t.tiles = 1;
  micro_tiles(kern, t, n % NR);
}

// Checked on every call, so the messages are only built when a check fails.
void check_args(const GemmArgs& g) {
  auto str = [](int64_t v) { return std::to_string(v); };
  if (g.M < 0 || g.N < 0 || g.K < 0)
    fail("gemm", "negative size M=" + str(g.M) + " N=" + str(g.N) + " K=" + str(g.K));
  if (g.lda < (g.trans_a ? g.M : g.K)) fail("gemm", "lda=" + str(g.lda) + " too small");
  if (g.ldb < (g.trans_b ? g.K : g.N)) fail("gemm", "ldb=" + str(g.ldb) + " too small");
  if (g.ldc < g.N) fail("gemm", "ldc=" + str(g.ldc) + " too small");
  if (g.bias && g.accumulate)
    fail("gemm", "a bias row and accumulate together (C += A B + bias) is not supported");
}

}  // namespace

namespace gemm_detail {
// Read on every build, also where only the portable kernel exists, so a bad QKV_ISA is never ignored.
Kernel kernel_for(simd::Isa isa) {
#if QKV_HAVE_X86_KERNELS
  if (isa == simd::Isa::avx512) return kAvx512Kernel;
  if (isa == simd::Isa::avx2) return kAvx2Kernel;
#endif
  (void)isa;
  return kPortableKernel;
}
}  // namespace gemm_detail

void gemm_naive(const GemmArgs& g) {
  check_args(g);
  for (int64_t i = 0; i < g.M; ++i) {
    for (int64_t j = 0; j < g.N; ++j) {
      float sum = 0;
      for (int64_t k = 0; k < g.K; ++k) sum += op_a(g, i, k) * op_b(g, k, j);
      float& c = g.C[i * g.ldc + j];
      c = g.accumulate ? c + sum : g.bias ? g.bias[j] + sum : sum;
    }
  }
}

void gemm(const GemmArgs& g) {
  check_args(g);
  if (g.M == 0 || g.N == 0) return;
  if (g.K == 0) {  // an empty sum: C = 0 (or the bias row), or C unchanged
    if (!g.accumulate)
      for (int64_t i = 0; i < g.M; ++i) {
        if (g.bias)
          std::copy_n(g.bias, g.N, g.C + i * g.ldc);
        else
          std::fill_n(g.C + i * g.ldc, g.N, 0.0f);
      }
    return;
  }
  const Kernel kern = kernel_for(simd::active_isa());

  // The path depends on the shape only, never on the thread count: direct and blocked add the k terms in
  // different groupings (blocked sums KC slices separately), and the bits must not depend on the threads.
  const int64_t work = g.M * g.N * g.K;  // multiply-adds
  // Nor on M: past one KC slice only the blocked path runs, so one row of C has the same bits alone as in
  // a tall product (a key/value cache computes one row where the full forward computes many).
  auto path = work <= kDirectMaxWork && g.K <= kKC ? direct_gemm : blocked_gemm;
  // (parallel_for would run one thread inline too, but through a std::function: 1% of a 64^3 product.)
  if (work < kParallelMinWork || get_num_threads() == 1) return path(g, kern, 0, g.M, 0, g.N);

  // Threads split C into blocks of whole rows (or columns, when C is wide), in units of MR (or NR), and
  // each runs the chosen path on its block with its own packing buffers, except that threads splitting the
  // rows of a blocked product share its packed B panels (shared_panel_gemm). Never along K. When K spans several
  // KC slices (a weight gradient, K = the tokens of a batch) and the longer side's units share out unevenly
  // (the busiest thread gets over 10% more than an even share), the other side is split if it shares better:
  // a 64 x 64 weight gradient has 5 row units (3:2 for 2 threads) and 2 column units (1:1), and each thread
  // then packs only its half of B and reads a transposed A in place (see read_a_in_place). 2 threads,
  // K = 512: 22.7 -> 18.7 us. Splitting columns on a tie was slower where C is tall (384 x 128, K = 2048:
  // 868 -> 1046 us), as was splitting [512,64] x [64,64] by columns (17 -> 32 us).
  const int64_t row_units = (g.M + kern.mr - 1) / kern.mr, col_units = (g.N + kern.nr - 1) / kern.nr;
  const int64_t threads = get_num_threads();
  auto evenness = [threads](int64_t units) {  // units / (the units the busiest thread gets x threads)
    return static_cast<double>(units) / static_cast<double>(threads * ((units + threads - 1) / threads));
  };
  const double rows_even = evenness(row_units), cols_even = evenness(col_units);
  bool split_rows = g.M >= g.N;
  if (g.K > kKC && (split_rows ? rows_even : cols_even) < 1 / 1.1 && rows_even != cols_even)
    split_rows = rows_even > cols_even;
  if (split_rows && path == blocked_gemm) return shared_panel_gemm(g, kern);
  const int64_t unit = split_rows ? kern.mr : kern.nr;
  const int64_t units = split_rows ? row_units : col_units;
  parallel_for(units, 1, [&](int64_t u_begin, int64_t u_end) {
    const int64_t begin = u_begin * unit, end = std::min(u_end * unit, split_rows ? g.M : g.N);
    if (split_rows)
      path(g, kern, begin, end, 0, g.N);
    else
      path(g, kern, 0, g.M, begin, end);
  });
}

}  // namespace qkv
