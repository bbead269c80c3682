// Argument checks shared by every floor: one rule per kind of value (a size, a probability, a rate, a
// token count ...), so the same kind of value is refused the same way everywhere. Each returns the value
// it accepted, to be used in a constructor's initializer list, or throws qkv::Error "op: name must be
// <rule>, got <value>", e.g. "TransformerConfig: num_blks must be >= 1, got 0".
#pragma once
#include <cstdint>

namespace qkv::check {

// A count of things that must exist: a width, a number of heads or blocks, a vocabulary size (>= 1).
int64_t positive(const char* op, const char* name, int64_t value);
// A count that may be zero: steps to generate, warmup steps (>= 0).
int64_t non_negative(const char* op, const char* name, int64_t value);
// A fraction that must stay below 1: a dropout probability, Adam's betas, SGD's momentum ([0, 1)).
// Numbers are taken and returned as double, so an optimizer's hyperparameters keep what the user wrote
// (a float converts to double exactly, and its message reads as the float: "got 0.1").
double fraction(const char* op, const char* name, double value);
// A share of probability that must not be empty: nucleus sampling's top_p ((0, 1]).
double probability_mass(const char* op, const char* name, double value);
// A learning rate, a weight decay: finite and >= 0.
double non_negative_number(const char* op, const char* name, double value);
// A divisor's guard or a bound: layer norm's and Adam's eps, a clipping norm (finite and > 0; an eps of
// 0 divides 0 by 0 on a constant row or a zero gradient).
double positive_number(const char* op, const char* name, double value);
// A width split evenly into parts: num_hiddens into num_heads. divisor_name and divisor are already
// checked positive.
int64_t multiple_of(const char* op, const char* name, int64_t value, const char* divisor_name,
                    int64_t divisor);
// Token counts carried in a float tensor (valid_lens): whole and >= 0.
float whole_non_negative(const char* op, const char* name, float value);
// A flag carried in a float tensor (key_is_padding): exactly 0 or 1.
float zero_or_one(const char* op, const char* name, float value);

}  // namespace qkv::check
