// Bad input at the tensor floor (issue 12): quote() for input text in messages, element counts that
// overflow int64, and storage that cannot be allocated, each refused with a qkv::Error naming op and shape.
#include <cstdint>
#include <string>

#include "catch.h"
#include "helpers.h"
#include "tensor/creation.h"
#include "tensor/error.h"

using Catch::Contains;
using qkv::quote;
using qkv::Shape;

TEST_CASE("quote: printable text is kept inside double quotes") {
  CHECK(quote("encoder.W_q") == "\"encoder.W_q\"");
  CHECK(quote("") == "\"\"");
}

TEST_CASE("quote: control bytes quotes and backslashes are escaped C-style") {
  CHECK(quote("a\nb\tc\rd") == "\"a\\nb\\tc\\rd\"");
  CHECK(quote("say \"hi\" \\ bye") == "\"say \\\"hi\\\" \\\\ bye\"");
  CHECK(quote(std::string("\x01\x7F", 2)) == "\"\\x01\\x7F\"");
}

TEST_CASE("quote: a NUL byte is shown and does not cut the text short") {
  const std::string name("ab\0cd", 5);
  CHECK(quote(name) == "\"ab\\0cd\"");
}

TEST_CASE("quote: bytes above 0x7F are shown as hex escapes") {
  CHECK(quote("\xFF\xFE") == "\"\\xFF\\xFE\"");
  CHECK(quote("caf\xC3\xA9") == "\"caf\\xC3\\xA9\"");
}

TEST_CASE("quote: long text is cut and its length given") {
  CHECK(quote(std::string(1000, 'a'), 8) == "\"aaaaaaaa\"... (1000 bytes)");
  CHECK(quote(std::string(8, 'a'), 8) == "\"aaaaaaaa\"");
  CHECK(quote(std::string(5000, 'x')).size() < 240);
}

namespace {
constexpr int64_t k2to32 = int64_t{1} << 32;
constexpr int64_t k2to40 = int64_t{1} << 40;  // 4 TiB of floats: more than any test machine holds
}  // namespace

TEST_CASE("numel: counts elements of ordinary shapes") {
  CHECK(qkv::numel(Shape{}) == 1);
  CHECK(qkv::numel(Shape{2, 3, 4}) == 24);
  CHECK(qkv::numel(Shape{5, 0, 7}) == 0);
  CHECK(qkv::numel(Shape{k2to32, k2to32 / 2 - 1}) == k2to32 * (k2to32 / 2 - 1));
}

TEST_CASE("numel: a product past int64 is refused naming the shape") {
  CHECK_THAT(ERROR_OF(qkv::numel(Shape{k2to32, k2to32})),
             Contains("numel: shape [4294967296,4294967296] has more elements than int64 can count"));
  CHECK_THAT(ERROR_OF(qkv::numel(Shape{k2to32, k2to32}, "reshape")), Contains("reshape: shape [4294967296,"));
}

TEST_CASE("numel: an overflowing shape is refused even when another size is 0") {
  CHECK_THAT(ERROR_OF(qkv::numel(Shape{k2to32, k2to32, 0})),
             Contains("shape [4294967296,4294967296,0] has more elements than int64 can count"));
  CHECK_THAT(ERROR_OF(qkv::numel(Shape{0, k2to32, k2to32})), Contains("[0,4294967296,4294967296]"));
}

TEST_CASE("numel: a negative size is refused naming the shape") {
  CHECK_THAT(ERROR_OF(qkv::numel(Shape{2, -3})), Contains("numel: negative size -3 in shape [2,-3]"));
}

TEST_CASE("creation: a shape past int64 is refused by the op that was asked") {
  CHECK_THAT(ERROR_OF(qkv::zeros({k2to32, k2to32})),
             Contains("zeros: shape [4294967296,4294967296] has more elements than int64 can count"));
  CHECK_THAT(ERROR_OF(qkv::ones({k2to32, k2to32, 0})), Contains("ones: shape [4294967296,4294967296,0]"));
  CHECK_THAT(ERROR_OF(qkv::full({k2to32, k2to32}, 1)), Contains("full: shape"));
  CHECK_THAT(ERROR_OF(qkv::rand({k2to32, k2to32})), Contains("rand: shape"));
  CHECK_THAT(ERROR_OF(qkv::randn({k2to32, k2to32})), Contains("randn: shape"));
  CHECK_THAT(ERROR_OF(qkv::uniform({k2to32, k2to32}, 0, 1)), Contains("uniform: shape"));
  CHECK_THAT(ERROR_OF(qkv::tensor({1, 2}, {k2to32, k2to32})), Contains("tensor: shape"));
  CHECK_THAT(ERROR_OF(qkv::Tensor::empty({k2to32, k2to32})), Contains("Tensor: shape"));
  CHECK_THAT(ERROR_OF(qkv::Tensor(Shape{k2to32, k2to32}, 1.0f)), Contains("Tensor: shape"));
  CHECK_THAT(ERROR_OF(qkv::zeros({-1, 3})), Contains("zeros: negative size -1 in shape [-1,3]"));
}

TEST_CASE("creation: storage that cannot be allocated is a named error with its size") {
  CHECK_THAT(ERROR_OF(qkv::zeros({k2to40})), Contains("zeros: cannot allocate [1099511627776] (4.0 TiB"));
  CHECK_THAT(ERROR_OF(qkv::randn({1024, 1024, 1024, 1024})),
             Contains("randn: cannot allocate [1024,1024,1024,1024] (4.0 TiB"));
  CHECK_THAT(ERROR_OF(qkv::Tensor::empty({k2to32, k2to32 / 4})), Contains("Tensor: cannot allocate"));
  CHECK_THAT(ERROR_OF(qkv::tensor({1, 2}, {k2to40})), Contains("tensor: 2 values do not fill shape"));
}

TEST_CASE("creation: arange refuses a range too long to hold") {
  CHECK_THAT(ERROR_OF(qkv::arange(0, 1e30f)), Contains("arange: range start=0 end=1e+30 step=1 has"));
  CHECK_THAT(ERROR_OF(qkv::arange(0, 4.4e12f)), Contains("arange: cannot allocate [4400000008192]"));
  CHECK(qkv::arange(0, 3).numel() == 3);
}

TEST_CASE("view: a shape past int64 is refused naming view") {
  CHECK_THAT(ERROR_OF(qkv::zeros({0}).view({k2to32, k2to32, 0})), Contains("view: shape [4294967296,"));
}
