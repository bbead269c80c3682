// Tests for tensor/shape_ops.h: each op on a small tensor with known output, views vs copies,
// index_select/index_add with repeated indices, and every named error.
#include <cstdint>

#include "catch.h"
#include "kernel_checks.h"
#include "tensor/creation.h"
#include "tensor/shape_ops.h"

using namespace qkv;
using qkv::testing::check_values;

TEST_CASE("tensor storage starts on a 64-byte cache line, whatever its size, and holds what was written") {
  for (int64_t n : {0, 1, 3, 16, 17, 1000, 4097, 1 << 20}) {
    Tensor t = Tensor::empty({n});
    INFO("n = " << n);
    CHECK(reinterpret_cast<uintptr_t>(t.data()) % 64 == 0);
    float* d = t.mutable_data();
    for (int64_t i = 0; i < n; ++i) d[i] = static_cast<float>(i);
    const Tensor c = t.clone();
    CHECK(reinterpret_cast<uintptr_t>(c.data()) % 64 == 0);
    CHECK(c.to_vector() == t.to_vector());
  }
}

TEST_CASE("shape_ops: reshape shares storage and infers one -1") {
  const Tensor x = arange(6).view({2, 3});
  const Tensor r = kernels::reshape(x, {3, -1});
  check_values(r, {3, 2}, {0, 1, 2, 3, 4, 5});
  CHECK(r.shares_storage_with(x));
  CHECK(kernels::reshape(x, {-1}).shape() == Shape{6});
  CHECK(kernels::reshape(scalar(1), {1, -1}).shape() == Shape{1, 1});
}

TEST_CASE("shape_ops: reshape errors name the shapes") {
  const Tensor x = zeros({2, 3});
  REQUIRE_THROWS_WITH(kernels::reshape(x, {4, 2}),
                      Catch::Contains("reshape: cannot reshape [2,3] (6 elements) into [4,2]"));
  REQUIRE_THROWS_WITH(kernels::reshape(x, {-1, -1}),
                      Catch::Contains("reshape") && Catch::Contains("[-1,-1]"));
  REQUIRE_THROWS_WITH(kernels::reshape(x, {4, -1}), Catch::Contains("reshape") && Catch::Contains("[4,-1]"));
  REQUIRE_THROWS_WITH(kernels::reshape(x, {-2, -3}),
                      Catch::Contains("reshape") && Catch::Contains("[-2,-3]"));
}

TEST_CASE("shape_ops: unsqueeze and squeeze are views") {
  const Tensor x = arange(6).view({2, 3});
  CHECK(kernels::unsqueeze(x, 0).shape() == Shape{1, 2, 3});
  CHECK(kernels::unsqueeze(x, 2).shape() == Shape{2, 3, 1});
  CHECK(kernels::unsqueeze(x, -1).shape() == Shape{2, 3, 1});
  CHECK(kernels::unsqueeze(x, -3).shape() == Shape{1, 2, 3});
  const Tensor s = kernels::squeeze(kernels::unsqueeze(x, 1), 1);
  CHECK(s.shape() == Shape{2, 3});
  CHECK(s.shares_storage_with(x));
  REQUIRE_THROWS_WITH(kernels::unsqueeze(x, 3), Catch::Contains("unsqueeze") && Catch::Contains("[2,3]"));
  REQUIRE_THROWS_WITH(kernels::unsqueeze(x, -4), Catch::Contains("unsqueeze") && Catch::Contains("-4"));
  REQUIRE_THROWS_WITH(kernels::squeeze(x, 1),
                      Catch::Contains("squeeze") && Catch::Contains("[2,3]") && Catch::Contains("size 3"));
}

TEST_CASE("shape_ops: permute and transpose copy into the new layout") {
  const Tensor x = arange(24).view({2, 3, 4});
  const Tensor p = kernels::permute(x, {2, 0, 1});
  REQUIRE(p.shape() == Shape{4, 2, 3});
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 4; ++k) CHECK(p.at({k, i, j}) == x.at({i, j, k}));
  CHECK_FALSE(p.shares_storage_with(x));
  check_values(kernels::transpose(arange(6).view({2, 3}), 0, 1), {3, 2}, {0, 3, 1, 4, 2, 5});
  const Tensor t = kernels::transpose(x, -1, 1);
  REQUIRE(t.shape() == Shape{2, 4, 3});
  CHECK(t.at({1, 3, 2}) == x.at({1, 2, 3}));
}

TEST_CASE("shape_ops: permute rejects what is not a permutation") {
  const Tensor x = zeros({2, 3});
  REQUIRE_THROWS_WITH(kernels::permute(x, {0, 0}),
                      Catch::Contains("permute") && Catch::Contains("[0,0]") && Catch::Contains("[2,3]"));
  REQUIRE_THROWS_WITH(kernels::permute(x, {0}), Catch::Contains("permute") && Catch::Contains("[0]"));
  REQUIRE_THROWS_WITH(kernels::permute(x, {0, 2}), Catch::Contains("permute") && Catch::Contains("[2,3]"));
  REQUIRE_THROWS_WITH(kernels::transpose(x, 0, 5), Catch::Contains("transpose") && Catch::Contains("5"));
}

TEST_CASE("shape_ops: slice follows Python (negative, clamped, stepped)") {
  const Tensor x = arange(10);
  check_values(kernels::slice(x, 0, 2, 5), {3}, {2, 3, 4});
  check_values(kernels::slice(x, 0, -3, 100), {3}, {7, 8, 9});
  check_values(kernels::slice(x, 0, 1, -1, 3), {3}, {1, 4, 7});
  check_values(kernels::slice(x, 0, 5, 2), {0}, {});
  check_values(kernels::slice(x, 0, -100, 2), {2}, {0, 1});
  const Tensor m = arange(12).view({3, 4});
  check_values(kernels::slice(m, 1, 1, 4, 2), {3, 2}, {1, 3, 5, 7, 9, 11});
  check_values(kernels::slice(m, -2, 2, 3), {1, 4}, {8, 9, 10, 11});
  REQUIRE_THROWS_WITH(kernels::slice(x, 0, 0, 5, 0), Catch::Contains("slice") && Catch::Contains("step"));
  REQUIRE_THROWS_WITH(kernels::slice(x, 1, 0, 5), Catch::Contains("slice") && Catch::Contains("[10]"));
}

TEST_CASE("shape_ops: narrow takes length entries and is strict about bounds") {
  const Tensor m = arange(12).view({3, 4});
  check_values(kernels::narrow(m, 1, 1, 2), {3, 2}, {1, 2, 5, 6, 9, 10});
  check_values(kernels::narrow(m, 0, 3, 0), {0, 4}, {});
  REQUIRE_THROWS_WITH(kernels::narrow(m, 1, 3, 2),
                      Catch::Contains("narrow") && Catch::Contains("[3,4]") && Catch::Contains("start 3"));
  REQUIRE_THROWS_WITH(kernels::narrow(m, 0, -1, 1), Catch::Contains("narrow") && Catch::Contains("-1"));
}

TEST_CASE("shape_ops: concat along the first, middle and last dim") {
  const Tensor a = arange(6).view({2, 3}), b = kernels::reshape(arange(6, 10), {2, 2});
  check_values(kernels::concat({a, b}, 1), {2, 5}, {0, 1, 2, 6, 7, 3, 4, 5, 8, 9});
  check_values(kernels::concat({a, a}, 0), {4, 3}, {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5});
  const Tensor c = kernels::concat({zeros({2, 1, 2}), ones({2, 2, 2})}, -2);
  check_values(c, {2, 3, 2}, {0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1});
  REQUIRE_THROWS_WITH(kernels::concat({a, b}, 0), Catch::Contains("concat") && Catch::Contains("[2,3]") &&
                                                      Catch::Contains("[2,2]") && Catch::Contains("dim 0"));
  REQUIRE_THROWS_WITH(kernels::concat({a, zeros({6})}, 0),
                      Catch::Contains("concat") && Catch::Contains("[6]"));
  REQUIRE_THROWS_WITH(kernels::concat({}, 0), Catch::Contains("concat"));
}

TEST_CASE("shape_ops: stack adds a new dim") {
  const Tensor a = tensor({1, 2}), b = tensor({3, 4});
  check_values(kernels::stack({a, b}, 0), {2, 2}, {1, 2, 3, 4});
  check_values(kernels::stack({a, b}, 1), {2, 2}, {1, 3, 2, 4});
  check_values(kernels::stack({a, b, a}, -1), {2, 3}, {1, 3, 1, 2, 4, 2});
  REQUIRE_THROWS_WITH(kernels::stack({a, zeros({3})}, 0),
                      Catch::Contains("stack") && Catch::Contains("[2]") && Catch::Contains("[3]"));
  REQUIRE_THROWS_WITH(kernels::stack({a, b}, 3), Catch::Contains("stack") && Catch::Contains("dim 3"));
}

TEST_CASE("shape_ops: index_select is an embedding lookup with indices of any shape") {
  const Tensor table = arange(8).view({4, 2});      // V = 4, D = 2
  const Tensor ids = tensor({3, 0, 3, 1}, {2, 2});  // [B,T], 3 repeated
  check_values(kernels::index_select(table, 0, ids), {2, 2, 2}, {6, 7, 0, 1, 6, 7, 2, 3});
  check_values(kernels::index_select(table, 1, tensor({1, 1, 0})), {4, 3},
               {1, 1, 0, 3, 3, 2, 5, 5, 4, 7, 7, 6});
  check_values(kernels::index_select(table, 0, scalar(2)), {2}, {4, 5});
}

TEST_CASE("shape_ops: index_select names a bad index and the size") {
  const Tensor table = zeros({4, 2});
  REQUIRE_THROWS_WITH(kernels::index_select(table, 0, tensor({1.5f})), Catch::Contains("index_select") &&
                                                                           Catch::Contains("1.5") &&
                                                                           Catch::Contains("not an integer"));
  REQUIRE_THROWS_WITH(kernels::index_select(table, 0, tensor({0, 4})), Catch::Contains("index_select") &&
                                                                           Catch::Contains("index 4") &&
                                                                           Catch::Contains("size 4"));
  REQUIRE_THROWS_WITH(kernels::index_select(table, 0, tensor({-1})),
                      Catch::Contains("index_select") && Catch::Contains("-1"));
}

TEST_CASE("shape_ops: index_add adds repeated indices twice (the adjoint of index_select)") {
  const Tensor ids = tensor({3, 0, 3});
  const Tensor src = tensor({1, 1, 2, 2, 10, 10}, {3, 2});
  check_values(kernels::index_add({4, 2}, 0, ids, src), {4, 2}, {2, 2, 0, 0, 0, 0, 11, 11});
  // adjoint: <index_select(x), s> == <x, index_add(s)>
  const Tensor x = arange(8).view({4, 2});
  const Tensor g = kernels::index_select(x, 0, ids), back = kernels::index_add({4, 2}, 0, ids, src);
  double lhs = 0, rhs = 0;
  for (int64_t i = 0; i < 6; ++i) lhs += g.data()[i] * src.data()[i];
  for (int64_t i = 0; i < 8; ++i) rhs += x.data()[i] * back.data()[i];
  CHECK(lhs == rhs);
  check_values(kernels::index_add({2, 3}, 1, tensor({2, 2}), ones({2, 2})), {2, 3}, {0, 0, 2, 0, 0, 2});
}

TEST_CASE("shape_ops: index_add checks src's shape and the indices") {
  REQUIRE_THROWS_WITH(kernels::index_add({4, 2}, 0, tensor({1, 2}), zeros({3, 2})),
                      Catch::Contains("index_add") && Catch::Contains("[3,2]") && Catch::Contains("[2,2]"));
  REQUIRE_THROWS_WITH(kernels::index_add({4, 2}, 0, tensor({7}), zeros({1, 2})),
                      Catch::Contains("index_add") && Catch::Contains("index 7"));
}
