// The layout of an attention call's heads, checked (see heads.h).
#include "tensor/attention/heads.h"

#include <string>

#include "tensor/checks.h"
#include "tensor/error.h"

namespace qkv::kernels {
namespace {

// Checks ragged's splits against the query and key rows there are and points s at them.
void set_ragged(const char* op, Heads& s, const RaggedRows& ragged, int64_t q_rows, int64_t k_rows) {
  ragged.check(op, q_rows, k_rows);
  s.B = ragged.batch();
  s.T = ragged.longest_query();
  s.S = ragged.longest_key();
  s.q_splits = ragged.q_splits.data();
  s.k_splits = ragged.k_splits.data();
}

}  // namespace

Heads check_heads(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, int64_t H,
                  const RaggedRows* ragged) {
  auto bad = [&](const std::string& why) {
    fail(op, why + ": q " + to_string(q.shape()) + ", k " + to_string(k.shape()) + ", v " +
                 to_string(v.shape()) + ", H=" + std::to_string(H));
  };
  const int64_t rank = ragged ? 2 : 3, last = rank - 1;
  if (q.dim() != rank || k.dim() != rank || v.dim() != rank)
    bad(ragged ? "expected ragged q [Nq,H*Dh], k [Nk,H*Dh], v [Nk,H*Dv]"
               : "expected q [B,T,H*Dh], k [B,S,H*Dh], v [B,S,H*Dv]");
  if (H <= 0 || q.size(last) % H != 0 || v.size(last) % H != 0)
    bad("widths must be multiples of the head count");
  if (!ragged && (k.size(0) != q.size(0) || v.size(0) != q.size(0))) bad("batch sizes differ");
  if (k.size(last) != q.size(last)) bad("q and k widths differ");
  if (v.size(last - 1) != k.size(last - 1)) bad("k and v lengths differ");
  Heads s{.B = ragged ? 0 : q.size(0),
          .T = ragged ? 0 : q.size(1),
          .S = ragged ? 0 : k.size(1),
          .H = H,
          .Dh = q.size(last) / H,
          .Dv = v.size(last) / H,
          .q_ld = q.size(last),
          .k_ld = k.size(last),
          .v_ld = v.size(last),
          .q_col = 0,
          .k_col = 0,
          .v_col = 0};
  if (ragged) set_ragged(op, s, *ragged, q.size(0), k.size(0));
  return s;
}

Heads packed_heads(const char* op, const Tensor& qkv, int64_t H, const RaggedRows* ragged) {
  const int64_t rank = ragged ? 2 : 3;
  if (qkv.dim() != rank || H <= 0 || qkv.size(rank - 1) % (3 * H) != 0)
    fail(op, std::string("expected qkv ") + (ragged ? "[N,3*H*Dh]" : "[B,T,3*H*Dh]") + ", got " +
                 to_string(qkv.shape()) + " with H=" + std::to_string(H));
  const int64_t width = qkv.size(rank - 1) / 3, Dh = width / H;
  Heads s{.B = ragged ? 0 : qkv.size(0),
          .T = ragged ? 0 : qkv.size(1),
          .S = ragged ? 0 : qkv.size(1),
          .H = H,
          .Dh = Dh,
          .Dv = Dh,
          .q_ld = 3 * width,
          .k_ld = 3 * width,
          .v_ld = 3 * width,
          .q_col = 0,
          .k_col = width,
          .v_col = 2 * width};
  if (ragged) set_ragged(op, s, *ragged, qkv.size(0), qkv.size(0));
  return s;
}

void check_keep_and_dropout(const char* op, const Heads& s, const Tensor& keep, const AttentionDropout& dropout) {
  if (keep.defined() && (keep.dim() != 3 || (keep.size(0) != 1 && keep.size(0) != s.B) ||
                         (keep.size(1) != 1 && keep.size(1) != s.T) || keep.size(2) != s.S))
    fail(op, "keep must be [B|1,T|1,S] = [" + std::to_string(s.B) + "|1," + std::to_string(s.T) + "|1," +
                 std::to_string(s.S) + "], got " + to_string(keep.shape()));
  check::fraction(op, "dropout p", dropout.p);
}

void check_weights(const char* op, const Heads& s, const Tensor& weights, const AttentionDropout& dropout) {
  const Shape map_shape{s.B, s.H, s.T, s.S};
  if (weights.shape() != map_shape)
    fail(op, "weights must be " + to_string(map_shape) + " (the forward's), got " + to_string(weights.shape()));
  check::fraction(op, "dropout p", dropout.p);
}

void check_dout(const char* op, const Heads& s, const Tensor& dout) {
  if (dout.shape() != s.out_shape())
    fail(op, "dout " + to_string(dout.shape()) + " does not match the output " + to_string(s.out_shape()));
}

}  // namespace qkv::kernels
