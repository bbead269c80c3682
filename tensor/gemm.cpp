// GEMM: the naive triple loop (test oracle) and the BLIS-style blocked driver: cache blocking (MC/KC/NC),
// pack_a / pack_b into contiguous zero-padded panels, five loops around an MR x NR micro-kernel.
// Leaves out: alpha/beta scaling (C = op(A) op(B), or += with accumulate), strided columns, other types.
#include "tensor/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "tensor/error.h"
#include "tensor/gemm_kernels.h"
#include "tensor/parallel.h"

namespace qkv {
namespace {

using gemm_detail::kMR;
using gemm_detail::kNR;
using gemm_detail::MicroTile;

// Register budget: see the micro-kernel in gemm_avx2.cpp (6 x 16 tile in 12 of the 16 ymm registers).
// Cache budget for one core (Zen 4: 32 KiB L1d, 1 MiB L2; Haswell-class CPUs are similar):
//   L1: the b_panel sliver in use (KC x NR = 256 x 16 floats = 16 KiB) plus one a sliver (KC x MR = 6 KiB)
//       stay resident while the 1st loop walks down the A block.
//   L2: the packed A block (MC x KC = 144 x 256 floats = 144 KiB) is reused by every sliver of B.
//   L3: the packed B panel (KC x NC = 256 x 4080 floats = 4 MiB) is reused by every A block.
constexpr int64_t kKC = 256;
constexpr int64_t kMC = 144;   // a multiple of MR
constexpr int64_t kNC = 4080;  // a multiple of NR
static_assert(kMC % kMR == 0 && kNC % kNR == 0);

// Below this many multiply-adds (a few microseconds of work) a product runs on the calling thread. The pool's
// workers spin briefly between jobs (tensor/parallel.cpp), so handing them a block costs about a microsecond.
constexpr int64_t kParallelMinWork = 64 * 64 * 64;
// Up to this many multiply-adds A and B are read in place (direct_gemm): packing costs more than it saves.
constexpr int64_t kDirectMaxWork = 128 * 128 * 128;

// op(A)(i, k) and op(B)(k, j), read through the transpose flags from the arrays as stored.
float op_a(const GemmArgs& g, int64_t i, int64_t k) {
  return g.trans_a ? g.A[k * g.lda + i] : g.A[i * g.lda + k];
}
float op_b(const GemmArgs& g, int64_t k, int64_t j) {
  return g.trans_b ? g.B[j * g.ldb + k] : g.B[k * g.ldb + j];
}

// A growable 64-byte-aligned float buffer; one pair per thread, reused across calls.
struct AlignedBuffer {
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> data;
  int64_t capacity = 0;

  float* get(int64_t n) {
    if (n > capacity) {
      const size_t bytes = (static_cast<size_t>(n) * sizeof(float) + 63) / 64 * 64;
      data.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
      if (!data) fail("gemm", "out of memory for a packing buffer of " + std::to_string(bytes) + " bytes");
      capacity = n;
    }
    return data.get();
  }
};
thread_local AlignedBuffer packed_a_buffer, packed_b_buffer;

// Interleaves `Width` lines of source, each read along k, into a kc x Width sliver:
// out[k * Width + w] = first[w * stride + k]. Reads Width streams in step; writes in order.
template <int64_t Width>
void interleave_lines(const float* first, int64_t stride, int64_t kc, float* out) {
  const float* line[Width];
  for (int64_t w = 0; w < Width; ++w) line[w] = first + w * stride;
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t w = 0; w < Width; ++w) out[k * Width + w] = line[w][k];
}

// pack_a: the mc x kc block op(A)[ic:ic+mc, pc:pc+kc] -> ceil(mc/MR) slivers, each kc x MR (see
// gemm_kernels.h). Rows past mc are zeros, so the micro-kernel never needs to know about the edge.
void pack_a(const GemmArgs& g, int64_t ic, int64_t mc, int64_t pc, int64_t kc, float* out) {
  for (int64_t ir = 0; ir < mc; ir += kMR, out += kc * kMR) {
    const int64_t rows = std::min(kMR, mc - ir);
    if (rows == kMR && !g.trans_a) {  // MR rows of A, each read along k
      interleave_lines<kMR>(g.A + (ic + ir) * g.lda + pc, g.lda, kc, out);
    } else if (rows == kMR) {  // A stored K x M: column k of the sliver is MR contiguous floats
      for (int64_t k = 0; k < kc; ++k)
        std::memcpy(out + k * kMR, g.A + (pc + k) * g.lda + ic + ir, sizeof(float) * kMR);
    } else {  // the bottom edge, zero-padded
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t i = 0; i < kMR; ++i) out[k * kMR + i] = i < rows ? op_a(g, ic + ir + i, pc + k) : 0.0f;
    }
  }
}

// pack_b: the kc x nc panel op(B)[pc:pc+kc, jc:jc+nc] -> ceil(nc/NR) slivers, each kc x NR. Columns past
// nc are zeros.
void pack_b(const GemmArgs& g, int64_t pc, int64_t kc, int64_t jc, int64_t nc, float* out) {
  const int64_t full_cols = nc / kNR * kNR;
  if (!g.trans_b) {
    // Row k of every full sliver is NR contiguous floats of B. Walking B row by row reads it in order,
    // which the hardware prefetcher follows.
    for (int64_t k = 0; k < kc; ++k) {
      const float* b_row = g.B + (pc + k) * g.ldb + jc;
      for (int64_t jr = 0; jr < full_cols; jr += kNR)
        std::memcpy(out + jr * kc + k * kNR, b_row + jr, sizeof(float) * kNR);
    }
  } else {  // B stored N x K: NR rows of B, each read along k
    for (int64_t jr = 0; jr < full_cols; jr += kNR)
      interleave_lines<kNR>(g.B + (jc + jr) * g.ldb + pc, g.ldb, kc, out + jr * kc);
  }
  if (full_cols < nc) {  // the right edge, zero-padded
    const int64_t cols = nc - full_cols;
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t j = 0; j < kNR; ++j)
        out[full_cols * kc + k * kNR + j] = j < cols ? op_b(g, pc + k, jc + full_cols + j) : 0.0f;
  }
}

// One tile of C: t.rows x cols at t.c, with cols <= NR. A tile narrower than NR (the right edge of C) is
// computed whole into a scratch tile, from a zero-padded B sliver, and only its real columns are written,
// with the same additions as a full tile.
[[gnu::noinline]] void edge_tile(gemm_detail::MicroKernel kernel, const MicroTile& t, int64_t cols) {
  alignas(64) float scratch[kMR * kNR];
  MicroTile into_scratch = t;
  into_scratch.c = scratch;
  into_scratch.ldc = kNR;
  into_scratch.accumulate = false;
  kernel(into_scratch);
  for (int64_t i = 0; i < t.rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      float& c = t.c[i * t.ldc + j];
      c = t.accumulate ? c + scratch[i * kNR + j] : scratch[i * kNR + j];
    }
}

inline void micro_tile(gemm_detail::MicroKernel kernel, const MicroTile& t, int64_t cols) {
  if (cols == kNR) return kernel(t);
  edge_tile(kernel, t, cols);
}

// The blocked algorithm, serially, on the block C[m_begin:m_end, n_begin:n_end]. Each element of C gets
// the same sums in the same order whatever block it falls in, so any split of C gives bitwise equal results.
void blocked_gemm(const GemmArgs& g, gemm_detail::MicroKernel kernel, int64_t m_begin, int64_t m_end,
                  int64_t n_begin, int64_t n_end) {
  const int64_t nc_max = std::min(kNC, (n_end - n_begin + kNR - 1) / kNR * kNR);
  const int64_t mc_max = std::min(kMC, (m_end - m_begin + kMR - 1) / kMR * kMR);
  float* packed_b = packed_b_buffer.get(kKC * nc_max);
  float* packed_a = packed_a_buffer.get(kKC * mc_max);

  for (int64_t jc = n_begin; jc < n_end; jc += kNC) {  // 5th loop around micro-kernel: NC columns of C
    const int64_t nc = std::min(kNC, n_end - jc);
    for (int64_t pc = 0; pc < g.K; pc += kKC) {  // 4th loop: a KC-deep slice of the sum
      const int64_t kc = std::min(kKC, g.K - pc);
      const bool accumulate = g.accumulate || pc > 0;  // later slices add to the first
      pack_b(g, pc, kc, jc, nc, packed_b);
      for (int64_t ic = m_begin; ic < m_end; ic += kMC) {  // 3rd loop: MC rows of C
        const int64_t mc = std::min(kMC, m_end - ic);
        pack_a(g, ic, mc, pc, kc, packed_a);
        for (int64_t jr = 0; jr < nc; jr += kNR) {    // 2nd loop: one NR-wide B sliver (stays in L1)
          for (int64_t ir = 0; ir < mc; ir += kMR) {  // 1st loop: one MR-tall A sliver
            const MicroTile t{.rows = std::min(kMR, mc - ir),
                              .kc = kc,
                              .a = packed_a + ir * kc,
                              .a_row_stride = 1,
                              .a_col_stride = kMR,
                              .b = packed_b + jr * kc,
                              .b_row_stride = kNR,
                              .c = g.C + (ic + ir) * g.ldc + jc + jr,
                              .ldc = g.ldc,
                              .accumulate = accumulate};
            micro_tile(kernel, t, std::min(kNR, nc - jr));
          }
        }
      }
    }
  }
}

// Rows of tile t when `total` rows are cut into ceil(total / MR) tiles as evenly as possible (32 rows:
// 6,6,5,5,5,5). A tile of r rows keeps 2r accumulators busy; with r < 4 there are too few to hide the FMA
// latency (8 chains needed), so a short last tile would run at half speed.
int64_t tile_rows(int64_t total, int64_t t) {
  const int64_t tiles = (total + kMR - 1) / kMR;
  return total / tiles + (t < total % tiles ? 1 : 0);
}

// Small products (everything fits in L2): no cache blocking and no packing, the micro-kernel reads A and B
// where they are. Only B slivers that cannot be read in place (B transposed, or the narrow right edge) are
// packed, once, up front. Same contract as blocked_gemm.
void direct_gemm(const GemmArgs& g, gemm_detail::MicroKernel kernel, int64_t m_begin, int64_t m_end,
                 int64_t n_begin, int64_t n_end) {
  const int64_t n = n_end - n_begin, full_cols = g.trans_b ? 0 : n / kNR * kNR;
  float* packed_b = packed_b_buffer.get(g.K * ((n - full_cols + kNR - 1) / kNR * kNR));
  if (full_cols < n) pack_b(g, 0, g.K, n_begin + full_cols, n - full_cols, packed_b);

  // 2nd loop around micro-kernel: one tile of A rows, read in place, stays in L1 for the 1st loop.
  for (int64_t ir = m_begin, tile = 0, rows; ir < m_end; ir += rows, ++tile) {
    rows = tile_rows(m_end - m_begin, tile);
    for (int64_t jr = 0; jr < n; jr += kNR) {  // 1st loop: one NR-wide sliver of B
      // op(A)(ir + i, k) is A[(ir + i) * lda + k], or A[k * lda + ir + i] when trans_a;
      // op(B)(k, j) in place is B[k * ldb + j], else packed_b sliver row k.
      const bool in_place = jr < full_cols;
      const MicroTile t{.rows = rows,
                        .kc = g.K,
                        .a = g.trans_a ? g.A + ir : g.A + ir * g.lda,
                        .a_row_stride = g.trans_a ? 1 : g.lda,
                        .a_col_stride = g.trans_a ? g.lda : 1,
                        .b = in_place ? g.B + n_begin + jr : packed_b + (jr - full_cols) * g.K,
                        .b_row_stride = in_place ? g.ldb : kNR,
                        .c = g.C + ir * g.ldc + n_begin + jr,
                        .ldc = g.ldc,
                        .accumulate = g.accumulate};
      micro_tile(kernel, t, std::min(kNR, n - jr));
    }
  }
}

std::atomic<bool> use_avx2{cpu_has_avx2_fma()};

// Checked on every call, so the messages are only built when a check fails.
void check_args(const GemmArgs& g) {
  auto str = [](int64_t v) { return std::to_string(v); };
  if (g.M < 0 || g.N < 0 || g.K < 0)
    fail("gemm", "negative size M=" + str(g.M) + " N=" + str(g.N) + " K=" + str(g.K));
  if (g.lda < (g.trans_a ? g.M : g.K)) fail("gemm", "lda=" + str(g.lda) + " too small");
  if (g.ldb < (g.trans_b ? g.K : g.N)) fail("gemm", "ldb=" + str(g.ldb) + " too small");
  if (g.ldc < g.N) fail("gemm", "ldc=" + str(g.ldc) + " too small");
}

}  // namespace

void gemm_naive(const GemmArgs& g) {
  check_args(g);
  for (int64_t i = 0; i < g.M; ++i) {
    for (int64_t j = 0; j < g.N; ++j) {
      float sum = 0;
      for (int64_t k = 0; k < g.K; ++k) sum += op_a(g, i, k) * op_b(g, k, j);
      float& c = g.C[i * g.ldc + j];
      c = g.accumulate ? c + sum : sum;
    }
  }
}

bool cpu_has_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();  // needed when called from a static initializer (use_avx2 below is one)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

void set_gemm_use_avx2(bool on) { use_avx2 = on && cpu_has_avx2_fma(); }

void gemm(const GemmArgs& g) {
  check_args(g);
  if (g.M == 0 || g.N == 0) return;
  if (g.K == 0) {  // an empty sum: C = 0, or C unchanged
    if (!g.accumulate)
      for (int64_t i = 0; i < g.M; ++i) std::fill_n(g.C + i * g.ldc, g.N, 0.0f);
    return;
  }
  gemm_detail::MicroKernel kernel = gemm_detail::micro_kernel_portable;
#if QKV_HAVE_AVX2_KERNELS
  if (use_avx2) kernel = gemm_detail::micro_kernel_avx2;
#endif

  // The path depends on the shape only, never on the thread count: direct and blocked add the k terms in
  // different groupings (blocked sums KC slices separately), and the bits must not depend on the threads.
  const int64_t work = g.M * g.N * g.K;  // multiply-adds
  auto path = work <= kDirectMaxWork ? direct_gemm : blocked_gemm;
  if (work < kParallelMinWork) return path(g, kernel, 0, g.M, 0, g.N);

  // Threads split C into blocks of whole rows (or columns, when C is wide), in units of MR (or NR), and
  // each runs the chosen path on its block with its own packing buffers. Never along K.
  const bool split_rows = g.M >= g.N;
  const int64_t unit = split_rows ? kMR : kNR;
  const int64_t units = ((split_rows ? g.M : g.N) + unit - 1) / unit;
  parallel_for(units, 1, [&](int64_t u_begin, int64_t u_end) {
    const int64_t begin = u_begin * unit, end = std::min(u_end * unit, split_rows ? g.M : g.N);
    if (split_rows)
      path(g, kernel, begin, end, 0, g.N);
    else
      path(g, kernel, 0, g.M, begin, end);
  });
}

namespace gemm_detail {

// The portable micro-kernel: the same tile and packed layout as the AVX2 one, in plain C++ that the
// compiler vectorises with whatever the baseline target has (SSE2 on x86-64, NEON on arm64).
void micro_kernel_portable(const MicroTile& t) {
  float acc[kMR][kNR] = {};
  const float* a = t.a;
  const float* b = t.b;
  for (int64_t k = 0; k < t.kc; ++k, a += t.a_col_stride, b += t.b_row_stride)
    for (int64_t i = 0; i < t.rows; ++i)
      for (int64_t j = 0; j < kNR; ++j) acc[i][j] += a[i * t.a_row_stride] * b[j];
  for (int64_t i = 0; i < t.rows; ++i)
    for (int64_t j = 0; j < kNR; ++j) {
      float& c = t.c[i * t.ldc + j];
      c = t.accumulate ? c + acc[i][j] : acc[i][j];
    }
}

}  // namespace gemm_detail
}  // namespace qkv
