// The shared argument checks (see checks.h). The comparisons are written so that NaN fails them all:
// !(value >= 0) is true for NaN, where value < 0 is not.
#include "tensor/checks.h"

#include <cmath>
#include <string>

#include "tensor/error.h"
#include "tensor/value_text.h"

namespace qkv::check {

[[noreturn]] static void refuse(const char* op, const char* name, const std::string& rule,
                                const std::string& got) {
  fail(op, std::string(name) + " must be " + rule + ", got " + got);
}

int64_t positive(const char* op, const char* name, int64_t value) {
  if (value < 1) refuse(op, name, ">= 1", std::to_string(value));
  return value;
}

int64_t non_negative(const char* op, const char* name, int64_t value) {
  if (value < 0) refuse(op, name, ">= 0", std::to_string(value));
  return value;
}

int64_t multiple_of(const char* op, const char* name, int64_t value, const char* divisor_name,
                    int64_t divisor) {
  if (value % divisor != 0)
    refuse(op, name, std::string("a multiple of ") + divisor_name + " (" + std::to_string(divisor) + ")",
           std::to_string(value));
  return value;
}

float fraction(const char* op, const char* name, float value) {
  if (!(value >= 0 && value < 1)) refuse(op, name, "in [0, 1)", kernels::value_text(value));
  return value;
}

float non_negative_number(const char* op, const char* name, float value) {
  if (!(value >= 0 && std::isfinite(value))) refuse(op, name, "finite and >= 0", kernels::value_text(value));
  return value;
}

float positive_number(const char* op, const char* name, float value) {
  if (!(value > 0 && std::isfinite(value))) refuse(op, name, "finite and > 0", kernels::value_text(value));
  return value;
}

float whole_non_negative(const char* op, const char* name, float value) {
  if (!(value >= 0 && std::isfinite(value) && value == std::floor(value)))
    refuse(op, name, "whole numbers >= 0", kernels::value_text(value));
  return value;
}

float zero_or_one(const char* op, const char* name, float value) {
  if (value != 0 && value != 1) refuse(op, name, "0 or 1", kernels::value_text(value));
  return value;
}

}  // namespace qkv::check
