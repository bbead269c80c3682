// Positional encodings (see positional_encoding.h).
#include "nn/positional_encoding.h"

#include <cmath>

#include "tensor/checks.h"

namespace qkv::nn {

Tensor sinusoidal_table(int64_t max_len, int64_t num_hiddens) {
  check::positive("sinusoidal_table", "max_len", max_len);
  check::positive("sinusoidal_table", "num_hiddens", num_hiddens);
  Tensor P({max_len, num_hiddens});
  float* p = P.mutable_data();
  for (int64_t i = 0; i < max_len; ++i) {
    for (int64_t col = 0; col < num_hiddens; ++col) {
      // columns 2j and 2j+1 share the frequency 1 / 10000^(2j/D); computed in double, stored as float
      const int64_t two_j = col - col % 2;
      const double angle = double(i) / std::pow(10000.0, double(two_j) / double(num_hiddens));
      p[i * num_hiddens + col] = float(col % 2 == 0 ? std::sin(angle) : std::cos(angle));
    }
  }
  return P;
}

static void check_positions(const char* op, const Tensor& x, int64_t max_len, int64_t D) {
  if (x.dim() != 3 || x.size(2) != D || x.size(1) > max_len)
    fail(op, "expected [B,T,D] with D=" + std::to_string(D) + " and T <= max_len=" + std::to_string(max_len) +
                 ", got " + to_string(x.shape()));
}

// A ragged batch's rows x [N,D] and their positions [N] (index_select checks each is < max_len).
static void check_ragged_positions(const char* op, const Tensor& x, const Tensor& positions, int64_t D) {
  if (x.dim() != 2 || x.size(1) != D || !positions.defined() || positions.dim() != 1 ||
      positions.size(0) != x.size(0))
    fail(op, "expected ragged x [N,D] with D=" + std::to_string(D) + " and positions [N], got " +
                 to_string(x.shape()) + " and " +
                 (positions.defined() ? to_string(positions.shape()) : "undefined"));
}

PositionalEncoding::PositionalEncoding(int64_t num_hiddens, float dropout, int64_t max_len)
    : P(sinusoidal_table(max_len, num_hiddens)) {
  dropout_ = register_module("dropout", std::make_shared<Dropout>(dropout));
}

Tensor PositionalEncoding::forward(const Tensor& x) const {
  check_positions("PositionalEncoding", x, P.size(0), P.size(1));
  return dropout_->forward(x + narrow(P, 0, 0, x.size(1)));  // [B,T,D] + [T,D]
}

Tensor PositionalEncoding::forward(const Tensor& x, const Tensor& positions) const {
  check_ragged_positions("PositionalEncoding", x, positions, P.size(1));
  return dropout_->forward(x + index_select(P, 0, positions));  // row i gets P[positions[i]]
}

LearnedPositionalEncoding::LearnedPositionalEncoding(int64_t num_hiddens, float dropout, int64_t max_len) {
  check::positive("LearnedPositionalEncoding", "max_len", max_len);
  check::positive("LearnedPositionalEncoding", "num_hiddens", num_hiddens);
  table = register_module("table", std::make_shared<Embedding>(max_len, num_hiddens));
  dropout_ = register_module("dropout", std::make_shared<Dropout>(dropout));
}

Tensor LearnedPositionalEncoding::forward(const Tensor& x) const {
  check_positions("LearnedPositionalEncoding", x, table->weight.size(0), table->weight.size(1));
  return dropout_->forward(x + narrow(table->weight, 0, 0, x.size(1)));  // the first T rows are learned
}

Tensor LearnedPositionalEncoding::forward(const Tensor& x, const Tensor& positions) const {
  check_ragged_positions("LearnedPositionalEncoding", x, positions, table->weight.size(1));
  return dropout_->forward(x + table->forward(positions));
}

}  // namespace qkv::nn
