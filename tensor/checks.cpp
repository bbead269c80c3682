// The shared argument checks (see checks.h). The comparisons are written so that NaN fails them all:
// !(value >= 0) is true for NaN, where value < 0 is not.
#include "tensor/checks.h"

#include <charconv>
#include <cmath>
#include <string>

#include "tensor/error.h"
#include "tensor/value_text.h"

namespace qkv::check {

[[noreturn]] static void refuse(const char* op, const char* name, const std::string& rule,
                                const std::string& got) {
  fail(op, std::string(name) + " must be " + rule + ", got " + got);
}

// The shortest text that reads back as the value: as a float when it is one (0.1f reads "0.1", not
// "0.10000000149011612"), else as a double.
static std::string number_text(double value) {
  const auto as_float = static_cast<float>(value);
  if (static_cast<double>(as_float) == value || std::isnan(value)) return kernels::value_text(as_float);
  char text[32];
  return std::string(text, std::to_chars(text, text + sizeof text, value).ptr);
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

double fraction(const char* op, const char* name, double value) {
  if (!(value >= 0 && value < 1)) refuse(op, name, "in [0, 1)", number_text(value));
  return value;
}

double probability_mass(const char* op, const char* name, double value) {
  if (!(value > 0 && value <= 1)) refuse(op, name, "in (0, 1]", number_text(value));
  return value;
}

double non_negative_number(const char* op, const char* name, double value) {
  if (!(value >= 0 && std::isfinite(value))) refuse(op, name, "finite and >= 0", number_text(value));
  return value;
}

double positive_number(const char* op, const char* name, double value) {
  if (!(value > 0 && std::isfinite(value))) refuse(op, name, "finite and > 0", number_text(value));
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
