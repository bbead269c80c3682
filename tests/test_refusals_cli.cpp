// The example programs refuse bad command lines (issue 12): each run here is refused before any training,
// must exit non-zero with a message naming the program, the flag and the value, and must leave the --out
// folder byte for byte as it was. Runs the built programs (tests/CMakeLists.txt gives their folder).
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "helpers.h"
#include "nn/io/safetensors.h"
#include "run_program.h"
#include "tensor/creation.h"

#ifdef QKV_EXAMPLES_DIR

using namespace qkv;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

using Run = qkv::testing::ProgramRun;

// Runs "[env] program args" from the examples' folder, e.g. run("train_sort", "--steps 0").
Run run(const std::string& program, const std::string& args, const std::string& env = "") {
  return qkv::testing::run_program(env + " " + testing::example(program) + " " + args);
}

std::string bytes_of(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Every file under dir with its bytes: equal before and after means nothing was written, renamed or left.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  if (!fs::exists(dir)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    files[entry.path().string()] = entry.is_regular_file() ? bytes_of(entry.path()) : "(folder)";
  return files;
}

// A fresh folder holding a checkpoint file whose metadata says it was trained for `step` steps.
std::string folder_with_checkpoint(const std::string& name, const std::string& file,
                                   const std::string& step) {
  const fs::path dir = fs::path(qkv::testing::scratch_path("refusals_cli", "")) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  save_safetensors((dir / file).string(), {{"w", zeros({2})}}, {{"step", step}});
  return dir.string();
}

// Runs program with args and --out dir; it must be refused with `message` and leave dir as it was.
void check_refused(const std::string& program, const std::string& args, const std::string& dir,
                   const std::string& message, const std::string& env = "") {
  const auto before = snapshot(dir);
  const Run r = run(program, args + " --out " + dir, env);
  INFO(program << " " << args << "\n" << r.output);
  CHECK(r.status != 0);
  CHECK_THAT(r.output, Contains(message));
  CHECK(snapshot(dir) == before);
}

}  // namespace

TEST_CASE("examples: train_reverse refuses out-of-range flags and leaves its checkpoint as it was") {
  const std::string dir = folder_with_checkpoint("reverse_flags", "reverse.safetensors", "2000");
  const std::string steps = "train_reverse: --steps must be an integer in [1, 10000000], got ";
  check_refused("train_reverse", "--steps 0", dir, steps + "0");
  check_refused("train_reverse", "--steps -5", dir, steps + "-5");
  check_refused("train_reverse", "--steps 1e3", dir, steps + "1e3");
  check_refused("train_reverse", "--steps ten", dir, steps + "\"ten\"");
  check_refused("train_reverse", "--batch 0", dir,
                "train_reverse: --batch must be an integer in [1, 4096], got 0");
  check_refused("train_reverse", "--batch -4", dir, "--batch must be an integer in [1, 4096], got -4");
  check_refused("train_reverse", "--lr inf", dir,
                "train_reverse: --lr must be a finite number in (0, 1], got inf");
  check_refused("train_reverse", "--lr nan", dir, "got nan");
  check_refused("train_reverse", "--threads -3", dir, "--threads must be an integer in [0, 1024], got -3");
  check_refused("train_reverse", "--threads 3000000000", dir, "got 3000000000");
  check_refused("train_reverse", "--seed -1", dir, "--seed must be an integer in [0, ");
}

TEST_CASE("examples: a flag followed by a flag is blamed for its missing value") {
  const std::string dir = folder_with_checkpoint("missing_value", "reverse.safetensors", "2000");
  check_refused("train_reverse", "--steps --seed 1", dir,
                "train_reverse: --steps is missing its value (the next argument is the flag --seed)");
  check_refused("train_reverse", "--bogus", dir, "train_reverse: unknown flag \"--bogus\"");
  check_refused("train_reverse", "1", dir, "unexpected argument \"1\"");
}

TEST_CASE("examples: a shorter run does not replace a checkpoint trained for longer") {
  const std::string dir = folder_with_checkpoint("shorter", "reverse.safetensors", "2000");
  check_refused(
      "train_reverse", "--steps 5", dir,
      "train_reverse: --steps 5 would replace " + dir +
          "/reverse.safetensors, trained for 2000 steps, with a shorter run; --resume continues it, "
          "--overwrite replaces it anyway");
  const std::string sort_dir = folder_with_checkpoint("shorter_sort", "sort.safetensors", "1500");
  check_refused("train_sort", "--steps 10", sort_dir, "train_sort: --steps 10 would replace");
}

TEST_CASE("examples: a checkpoint that cannot be read is kept") {
  const std::string dir = folder_with_checkpoint("unreadable", "reverse.safetensors", "2000");
  std::ofstream(dir + "/reverse.safetensors", std::ios::binary | std::ios::trunc) << "not a checkpoint";
  check_refused("train_reverse", "--steps 5", dir,
                "train_reverse: " + dir + "/reverse.safetensors is kept: it cannot be read as a checkpoint");
  const std::string no_step = folder_with_checkpoint("no_step", "reverse.safetensors", "2000");
  save_safetensors(no_step + "/reverse.safetensors", {{"w", zeros({2})}}, {{"step", "64abc"}});
  check_refused("train_reverse", "", no_step, "is kept: it cannot be read as a checkpoint");
}

TEST_CASE("examples: an --out that is a file is refused before training") {
  const std::string dir = folder_with_checkpoint("out_is_file", "reverse.safetensors", "2000");
  const std::string file = dir + "/reverse.safetensors";
  const std::string before = bytes_of(file);
  const Run r = run("train_reverse", "--steps 5 --out " + file);
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Contains("train_reverse: --out " + file + " is a file, not a folder"));
  CHECK(bytes_of(file) == before);
}

TEST_CASE("examples: flags that contradict each other are refused") {
  const std::string dir = folder_with_checkpoint("contradict", "reverse.safetensors", "2000");
  check_refused("train_reverse", "--resume --overwrite", dir,
                "--resume and --overwrite contradict each other");
  check_refused("train_reverse", "--eval " + dir + "/reverse.safetensors --resume", dir,
                "--eval only evaluates");
  check_refused("train_reverse", "--eval ''", dir, "--eval needs the path of a checkpoint");
}

TEST_CASE("examples: resume needs more steps than the checkpoint has") {
  const fs::path dir = fs::path(qkv::testing::scratch_path("refusals_cli", "")) / "resume";
  fs::remove_all(dir);
  const Run trained = run("train_reverse", "--steps 2 --threads 1 --out " + dir.string());
  INFO(trained.output);
  REQUIRE(trained.status == 0);
  check_refused("train_reverse", "--resume --steps 2", dir.string(),
                "train_reverse: " + dir.string() +
                    "/reverse.safetensors is at step 2: --resume needs more "
                    "--steps, got 2");
  check_refused("train_reverse", "--steps 1", dir.string(), "--steps 1 would replace");
  const fs::path empty = fs::path(qkv::testing::scratch_path("refusals_cli", "")) / "resume_nothing";
  fs::remove_all(empty);
  check_refused("train_reverse", "--resume", empty.string(),
                "--resume: there is no checkpoint " + empty.string());
  CHECK_FALSE(fs::exists(empty));
}

TEST_CASE("examples: a malformed QKV_NUM_THREADS stops a program before it writes anything") {
  const fs::path dir = fs::path(qkv::testing::scratch_path("refusals_cli", "")) / "never_made";
  fs::remove_all(dir);
  for (const char* bad : {"abc", "0", "-2", "''", "2.5"}) {
    check_refused("train_reverse", "", dir.string(),
                  "train_reverse: QKV_NUM_THREADS must be a whole number of threads >= 1, got \"",
                  std::string("QKV_NUM_THREADS=") + bad);
    CHECK_FALSE(fs::exists(dir));
  }
  check_refused("train_sort", "", dir.string(), "train_sort: QKV_NUM_THREADS must be", "QKV_NUM_THREADS=abc");
  CHECK_FALSE(fs::exists(dir));
}

TEST_CASE("examples: train_sort refuses out-of-range flags") {
  const std::string dir = folder_with_checkpoint("sort_flags", "sort.safetensors", "1500");
  check_refused("train_sort", "--steps 0", dir,
                "train_sort: --steps must be an integer in [1, 10000000], got 0");
  check_refused("train_sort", "--lr -1", dir, "train_sort: --lr must be a finite number in (0, 1], got -1");
  check_refused("train_sort", "--steps --seed 1", dir, "--steps is missing its value");
}

TEST_CASE("examples: every program answers --help without running and refuses unknown flags") {
  for (const char* program :
       {"train_reverse", "train_sort", "fit_mlp", "bench_matmul", "bench_train", "positional_encoding",
        "bench_attention", "online_softmax", "bench_generate", "sampling_step"}) {
    const Run help = run(program, "--help");
    INFO(program << "\n" << help.output);
    CHECK(help.status == 0);
    CHECK_THAT(help.output, Contains(std::string("usage: ") + program + " [flags]"));
    CHECK(help.output.rfind("usage: ", 0) == 0);
    for (const char* ran : {"loss ", "ratio =", "ms/step"}) CHECK(help.output.find(ran) == std::string::npos);
    const Run bogus = run(program, "--bogus");
    CHECK(bogus.status == 2);
    CHECK_THAT(bogus.output, Contains(std::string(program) + ": unknown flag \"--bogus\" (see --help)"));
  }
}

TEST_CASE("examples: bench_generate refuses a generation past max_len, sampling_step a bad top-p") {
  const Run past = run("bench_generate", "--prompt 100 --new-tokens 500");
  CHECK(past.status == 2);
  CHECK_THAT(
      past.output,
      Contains("bench_generate: --prompt 100 and --new-tokens 500 need 599 positions, past max_len 512"));
  const Run top_p = run("sampling_step", "--top-p 0");
  CHECK(top_p.status == 2);
  CHECK_THAT(top_p.output, Contains("sampling_step: --top-p must be a finite number in (0, 1], got 0"));
}

TEST_CASE("examples: fit_mlp and bench_train check their flags") {
  CHECK_THAT(run("fit_mlp", "--steps 0").output,
             Contains("fit_mlp: --steps must be an integer in [1, 1000000], got 0"));
  CHECK_THAT(run("fit_mlp", "--lr inf").output,
             Contains("fit_mlp: --lr must be a finite number in (0, 10], got inf"));
  const Run config = run("bench_train", "--config nope");
  CHECK(config.status == 2);
  CHECK_THAT(
      config.output,
      Contains("bench_train: --config must be one of all, reverse, reverse_padded, gpt, got \"nope\""));
  CHECK_THAT(run("bench_train", "--steps 0").output,
             Contains("bench_train: --steps must be an integer in [1, "));
  CHECK_THAT(run("bench_train", "--threads -1").output,
             Contains("--threads must be an integer in [0, 1024]"));
}

#endif  // QKV_EXAMPLES_DIR
