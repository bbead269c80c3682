// train_reverse on checkpoints with bad content (issue 12): --eval and --resume refuse a file whose metadata
// or tensors are wrong, by name and with exit status 1 (never a crash), and leave its folder byte for byte
// as it was. The checkpoints are made here with the library; the program runs from the examples' folder.
#include <filesystem>
#include <fstream>
#include <map>

#include "helpers.h"
#include "nn/io/checkpoint.h"
#include "run_program.h"

#ifdef QKV_EXAMPLES_DIR

using namespace qkv;
using namespace qkv::nn;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

// train_reverse's model (examples/train_reverse.cpp: reverse_config) and a checkpoint of it after `step`
// steps, as the program saves one, with `changes` made to its metadata.
std::string reverse_checkpoint(const std::string& folder, const std::map<std::string, std::string>& changes,
                               bool norm_first = true, bool nan_weight = false) {
  TransformerConfig c{13, BlockConfig{64, 128, 4, 0.0f}, 2, 64};
  c.block.norm_first = norm_first;
  manual_seed(0);
  EncoderDecoder model(c);
  Adam opt(model.named_parameters(), 1e-3f, 0.9f, 0.98f, 1e-9f);
  if (nan_weight) model.encoder->embedding->weight.mutable_data()[5] = NAN;
  Checkpoint ck{config_metadata(c), {{"train.losses", tensor({2.5f, 2.4f})}}};
  ck.metadata["task"] = "reverse";
  ck.metadata["step"] = "2";
  ck.metadata["generator"] = default_generator().state();
  for (const auto& [key, value] : changes) ck.metadata[key] = value;
  const fs::path dir = fs::path(testing::scratch_path("refusals_reverse", "")) / folder;
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "reverse.safetensors").string();
  save_checkpoint(path, model, &opt, ck);
  return path;
}

// Every file of the folder and its bytes.
std::map<std::string, std::string> files_in(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    files[entry.path().string()] = {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  return files;
}

// train_reverse `args` --out <the checkpoint's folder> must exit 1 with `message` and change no file there.
void check_refused(const std::string& checkpoint, const std::string& args, const std::string& message) {
  const fs::path dir = fs::path(checkpoint).parent_path();
  const auto before = files_in(dir);
  const testing::ProgramRun r = testing::run_program(testing::example("train_reverse") + " " + args +
                                                     " --threads 1 --out " + dir.string());
  INFO(args << "\n" << r.output);
  CHECK(r.status == 1);  // a refusal, not a crash (num_blks 0 was a SIGSEGV)
  CHECK_THAT(r.output, Contains("train_reverse: checkpoint " + checkpoint + ": " + message));
  CHECK(files_in(dir) == before);
}

}  // namespace

TEST_CASE("reverse checkpoints: eval refuses metadata that describes no model or another one") {
  std::string path = reverse_checkpoint("no_blocks", {{"num_blks", "0"}});
  check_refused(path, "--eval " + path, "metadata \"num_blks\" must be an integer in [1, 1000], got \"0\"");
  path = reverse_checkpoint("suffix", {{"num_hiddens", "64abc"}});
  check_refused(path, "--eval " + path,
                "metadata \"num_hiddens\" must be an integer in [1, 65536], got \"64abc\"");
  path = reverse_checkpoint("heads", {{"num_heads", "5"}});
  check_refused(path, "--eval " + path,
                "metadata describes a model qkv refuses: TransformerConfig: num_hiddens must be a multiple "
                "of num_heads (5), got 64");
  path = reverse_checkpoint("missing", {{"max_len", ""}});
  check_refused(path, "--eval " + path, "metadata \"max_len\" must be an integer in [1, 1048576], got \"\"");
  path = reverse_checkpoint("task", {{"task", "sort"}});
  check_refused(path, "--eval " + path, "metadata \"task\" must be one of reverse, got \"sort\"");
}

TEST_CASE("reverse checkpoints: eval refuses tensors the model does not have and non-finite weights") {
  std::string path = reverse_checkpoint("post_norm", {{"norm_first", "0"}});
  check_refused(path, "--eval " + path, "4 tensors the model does not have: \"encoder.ln_f.weight\"");
  path = reverse_checkpoint("nan", {}, true, /*nan_weight=*/true);
  check_refused(path, "--eval " + path, "tensor \"encoder.embedding.weight\" holds nan at index 5");
}

TEST_CASE("reverse checkpoints: resume refuses a bad step generator loss history or weights") {
  std::string path = reverse_checkpoint("resume_nan", {}, true, /*nan_weight=*/true);
  check_refused(path, "--resume --steps 4", "tensor \"encoder.embedding.weight\" holds nan at index 5");
  path = reverse_checkpoint("resume_generator", {{"generator", "zzz"}});
  check_refused(path, "--resume --steps 4", "metadata \"generator\" is not a generator state, got \"zzz\"");
  path = reverse_checkpoint("resume_losses", {{"step", "3"}});
  check_refused(path, "--resume --steps 4", "holds 2 losses for 3 steps");
}

#endif  // QKV_EXAMPLES_DIR
