// The way out to PyTorch (issue 13): a checkpoint's metadata names the model's class and config, so
// examples/torch_from_checkpoint.py rebuilds it in torch.nn from the file alone; export_logits writes qkv's
// logits for the script to compare with. Needs python3 with torch (QKV_PYTHON, default /usr/bin/python3);
// without it the comparisons warn and are skipped, never passed silently.
#include <filesystem>
#include <fstream>
#include <map>

#include "helpers.h"
#include "nn/io/checkpoint.h"
#include "run_program.h"

using namespace qkv;
using namespace qkv::nn;
using Catch::Contains;
namespace fs = std::filesystem;

TEST_CASE("checkpoint metadata: a model's class is saved beside its config") {
  TransformerConfig c{11, BlockConfig{16, 32, 2, 0.25f, false, false, Activation::gelu}, 1, 20};
  const auto ed = model_metadata(EncoderDecoder(c));
  CHECK(ed.at("model") == "EncoderDecoder");
  CHECK(ed.at("norm_first") == "0");
  const auto gpt = model_metadata(GPT(c));
  CHECK(gpt.at("model") == "GPT");
  CHECK(gpt.at("norm_first") == "1");  // GPT's blocks are pre-norm whatever the config says
  for (const auto& [key, value] : {std::pair{"vocab_size", "11"},
                                   {"num_hiddens", "16"},
                                   {"ffn_num_hiddens", "32"},
                                   {"num_heads", "2"},
                                   {"dropout", "0.25"},
                                   {"bias", "0"},
                                   {"activation", "gelu"},
                                   {"num_blks", "1"},
                                   {"max_len", "20"}}) {
    INFO(key);
    CHECK(gpt.at(key) == value);
  }
  CHECK(model_kind(MetadataReader("a.safetensors", gpt)) == "GPT");
}

TEST_CASE("checkpoint metadata: an unknown model class is refused by name") {
  CHECK_THAT(ERROR_OF(model_kind(MetadataReader("runs/x.safetensors", {{"model", "Bert"}}))),
             Contains("checkpoint runs/x.safetensors: metadata \"model\" must be one of EncoderDecoder, GPT, "
                      "got \"Bert\""));
  CHECK_THAT(ERROR_OF(model_kind(MetadataReader("runs/x.safetensors", {}))),
             Contains("metadata \"model\" is missing"));
}

#ifdef QKV_EXAMPLES_DIR

namespace {

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A small model of the given class with every parameter moved off its initial value (LayerNorm's ones and
// zeros included, so a weight loaded into the wrong place shows), saved as the examples save theirs.
template <class Model>
std::string saved_model(const std::string& name, const TransformerConfig& c) {
  manual_seed(7);
  Model model(c);
  for (Tensor& p : model.parameters()) {
    const Tensor noise = randn(p.shape());
    for (int64_t i = 0; i < p.numel(); ++i) p.mutable_data()[i] += 0.3f * noise.data()[i];
  }
  const std::string path = testing::scratch_path("torch_export", name + ".safetensors");
  save_checkpoint(path, model, nullptr, Checkpoint{model_metadata(model), {}});
  return path;
}

std::string export_logits(const std::string& checkpoint, const std::string& args = "") {
  const std::string out = fs::path(checkpoint).replace_extension("logits.safetensors").string();
  const auto r = testing::run_program(testing::example("export_logits") + " --checkpoint " + checkpoint +
                                      " --out " + out + " --batch 3 --len 9 " + args);
  INFO(r.output);
  REQUIRE(r.status == 0);
  return out;
}

std::string python() {
  const char* env = std::getenv("QKV_PYTHON");
  return env && *env ? env : "/usr/bin/python3";
}

// True when python can import module (asked once per module); otherwise warns, naming what to install.
bool python_has(const std::string& module, const std::string& install) {
  static std::map<std::string, testing::ProgramRun> asked;
  if (!asked.count(module))
    asked.emplace(module, testing::run_program(python() + " -c 'import " + module + "'"));
  const testing::ProgramRun& r = asked.at(module);
  if (r.status != 0)
    WARN("SKIPPED: " << python() << " cannot import " << module << " (" << install
                     << "), so this comparison did not run:\n"
                     << r.output);
  return r.status == 0;
}

testing::ProgramRun torch_from_checkpoint(const std::string& args) {
  return testing::run_program(python() + " " QKV_SOURCE_DIR "/examples/torch_from_checkpoint.py " + args);
}

// A small model of each class and of each option the script must follow.
const TransformerConfig kPostNormRelu{13, BlockConfig{16, 24, 2, 0.1f, true, false, Activation::relu}, 2, 16};
const TransformerConfig kPreNormGeluNoBias{13, BlockConfig{16, 24, 4, 0.0f, false, true, Activation::gelu}, 2,
                                           16};

}  // namespace

TEST_CASE("export_logits: refuses to write over its checkpoint") {
  const std::string ckpt = saved_model<GPT>("self", kPreNormGeluNoBias);
  const std::string before = bytes_of(ckpt);
  const auto r =
      testing::run_program(testing::example("export_logits") + " --checkpoint " + ckpt + " --out " + ckpt);
  CHECK(r.status == 2);  // a usage error
  CHECK_THAT(r.output, Contains("export_logits: --out \"" + ckpt + "\" is the checkpoint itself"));
  CHECK(bytes_of(ckpt) == before);
}

TEST_CASE("export_logits: refuses a length past the model's max_len") {
  const std::string ckpt = saved_model<EncoderDecoder>("long", kPostNormRelu);
  const std::string out = testing::scratch_path("torch_export", "long_logits.safetensors");
  fs::remove(out);
  const auto r = testing::run_program(testing::example("export_logits") + " --checkpoint " + ckpt +
                                      " --out " + out + " --len 17");
  CHECK(r.status == 2);  // a usage error
  CHECK_THAT(r.output, Contains("export_logits: --len 17 is longer than the checkpoint's max_len 16"));
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("torch export: PyTorch rebuilds each example model from its checkpoint with the same logits") {
  if (!python_has("torch", "apt-get install python3-torch")) return;
  const std::vector<std::pair<std::string, std::string>> checkpoints = {
      {"encoder-decoder, post-norm, relu", saved_model<EncoderDecoder>("ed_post", kPostNormRelu)},
      {"encoder-decoder, pre-norm, gelu, no bias", saved_model<EncoderDecoder>("ed_pre", kPreNormGeluNoBias)},
      {"GPT", saved_model<GPT>("gpt", kPreNormGeluNoBias)}};
  for (const auto& [what, ckpt] : checkpoints) {
    const auto r = torch_from_checkpoint(ckpt + " --reader hand --logits " + export_logits(ckpt));
    INFO(what << "\n" << r.output);
    CHECK(r.status == 0);
    CHECK_THAT(r.output, Contains(": agree"));
  }
}

TEST_CASE("torch export: logits that differ by 1e-3 are reported with exit status 1") {
  if (!python_has("torch", "apt-get install python3-torch")) return;
  const std::string ckpt = saved_model<GPT>("gpt_off", kPreNormGeluNoBias);
  const std::string logits = export_logits(ckpt);
  SafetensorsFile file = load_safetensors(logits);
  file.tensors.back().second.mutable_data()[5] += 1e-3f;  // "logits", the last tensor
  save_safetensors(logits, file.tensors, file.metadata);
  const auto r = torch_from_checkpoint(ckpt + " --reader hand --logits " + logits);
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Contains("DISAGREE"));
}

TEST_CASE("torch export: safetensors.torch.load_file reads qkv's checkpoints") {
  if (!python_has("safetensors.torch", "pip install safetensors, in a venv with --system-site-packages"))
    return;
  for (const std::string& ckpt : {saved_model<EncoderDecoder>("ed_ref", kPostNormRelu),
                                  saved_model<GPT>("gpt_ref", kPreNormGeluNoBias)}) {
    const auto r = torch_from_checkpoint(ckpt + " --reader safetensors --logits " + export_logits(ckpt));
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK_THAT(r.output, Contains("read with safetensors.torch.load_file"));
    CHECK_THAT(r.output, Contains(": agree"));
  }
}

#endif  // QKV_EXAMPLES_DIR
