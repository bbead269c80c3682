// autograd/profiler.h: a profiled training step lists the ops it ran, forward and backward, with calls
// counted exactly; nothing is recorded outside a profile.
#include "autograd/ops.h"
#include "autograd/profiler.h"
#include "helpers.h"
#include "nn/models.h"
#include "nn/optim.h"

using namespace qkv;
using Catch::Contains;

namespace {

const profiler::OpStats* find(const std::vector<profiler::OpStats>& ops, const std::string& name) {
  for (const profiler::OpStats& o : ops)
    if (o.name == name) return &o;
  return nullptr;
}

}  // namespace

TEST_CASE("profiler: a hand-built expression counts each op's forward and backward calls") {
  Tensor a = tensor({1.0f, 2.0f}).set_requires_grad(), b = tensor({3.0f, 4.0f}).set_requires_grad();
  profiler::Profile profile;
  Tensor loss = sum(tanh(a * b) * b + a);  // mul twice, tanh, add, sum
  loss.backward();
  const auto ops = profile.ops();
  REQUIRE(find(ops, "mul"));
  CHECK(find(ops, "mul")->forward_calls == 2);
  CHECK(find(ops, "mul")->backward_calls == 2);
  CHECK(find(ops, "tanh")->forward_calls == 1);
  CHECK(find(ops, "add")->backward_calls == 1);
  CHECK(find(ops, "sum")->forward_calls == 1);
  CHECK(find(ops, "accumulate_grad"));
  CHECK_FALSE(find(ops, "matmul"));
  for (size_t i = 1; i < ops.size(); ++i) CHECK(ops[i - 1].total_seconds() >= ops[i].total_seconds());
  const std::string table = profile.table();
  CHECK_THAT(table, Contains("fwd calls"));
  CHECK_THAT(table, Contains("% wall"));
  CHECK_THAT(table, Contains("tanh"));
}

TEST_CASE("profiler: a profiled training step of a GPT lists its ops with nonzero calls and times") {
  nn::TransformerConfig c;
  c.vocab_size = 11, c.block = {16, 32, 2, 0.1f, true, true, nn::Activation::gelu}, c.num_blks = 1;
  c.max_len = 8;
  manual_seed(0);
  nn::GPT model(c);
  nn::AdamW opt(model.named_parameters(), 1e-3f);
  const Tensor ids = tensor({1, 2, 3, 4, 5, 6, 7, 8}, {1, 8}),
               targets = tensor({2, 3, 4, 5, 6, 7, 8, 9}, {8});
  profiler::Profile profile;
  const Tensor loss = cross_entropy(reshape(model.forward(ids), {-1, 11}), targets);
  opt.zero_grad();
  loss.backward();
  opt.step();
  const auto ops = profile.ops();
  for (const char* name : {"index_select", "layer_norm", "linear", "gelu", "cross_entropy", "reshape"}) {
    INFO(name);
    const profiler::OpStats* o = find(ops, name);
    REQUIRE(o);
    CHECK(o->forward_calls > 0);
    CHECK(o->backward_calls > 0);
    CHECK(o->total_seconds() > 0);
  }
  CHECK(find(ops, "linear")->forward_calls == 5);  // qkv, W_o, dense1, dense2 in the block, and the head
}

TEST_CASE("profiler: off outside a profile, and profiles do not nest") {
  Tensor a = tensor({1.0f}).set_requires_grad();
  {
    profiler::Profile profile;
    CHECK(profiler::enabled());
    CHECK_THROWS_WITH(profiler::Profile(), Contains("Profile: a profile is already recording"));
  }
  CHECK_FALSE(profiler::enabled());
  (a * 2.0f).backward();  // no table to fill: nothing happens
  profiler::Profile again;
  CHECK(again.ops().empty());
}
