// examples/train_chargpt run as a program (issue 15): a short run on a small text lowers the validation
// loss, the sample command writes from a tiny checkpoint, the same seed gives the same checkpoint bytes with
// 1 or 2 threads, and bad input is refused by name. The tinyshakespeare run needs ../shared/data (absent
// on most machines): without it, that test says so and checks nothing else.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "helpers.h"
#include "run_program.h"

using namespace qkv;
using Catch::Contains;

#if defined(QKV_EXAMPLES_DIR)

namespace {

// A small text with structure a tiny model picks up in a few dozen steps.
std::string small_text_file() {
  const std::string path = testing::scratch_path("chargpt", "small.txt");
  std::ofstream out(path);
  const char* words[] = {"the cat sat on the mat. ", "a dog ran to the log. ", "we see the sea. "};
  for (int i = 0; i < 300; ++i) out << words[(i * 7) % 3];
  return path;
}

// A tiny model: every run below takes a second or two.
const std::string kTiny =
    " --width 32 --layers 1 --heads 2 --block 16 --batch 8 --lr 1e-2 --eval-iters 4 --seed 3";

std::string chargpt(const std::string& args) { return testing::example("train_chargpt") + args; }

// "step 0: train 3.1, val 3.2 ..." -> 3.2; "validation loss: 1.2345" (the last line) -> 1.2345
double first_val(const std::string& output) {
  const size_t at = output.find("step 0: train ");
  REQUIRE(at != std::string::npos);
  return std::stod(output.substr(output.find("val ", at) + 4));
}
double last_val(const std::string& output) {
  const size_t at = output.rfind("validation loss: ");
  REQUIRE(at != std::string::npos);
  REQUIRE(output.find('\n', at) == output.size() - 1);  // the last line
  return std::stod(output.substr(at + 17));
}

}  // namespace

TEST_CASE(
    "train_chargpt: a short run on a small text lowers the validation loss, and sample writes from it") {
  const std::string data = small_text_file(), out = testing::scratch_path("chargpt", "run");
  for (const char* arch : {"gpt2", "llama"}) {
    INFO(arch);
    const auto r =
        testing::run_program(chargpt(" --data " + data + kTiny + " --steps 60 --eval-interval 30 " +
                                     "--overwrite --arch " + arch + " --out " + out));
    REQUIRE(r.status == 0);
    CHECK(last_val(r.output) < first_val(r.output) - 0.5);
    CHECK(std::filesystem::exists(out + "/loss.svg"));
    const auto s =
        testing::run_program(chargpt(" --sample " + out + "/chargpt.safetensors --prompt \"the \"" +
                                     " --max-new-tokens 40 --temperature 0.8 --top-k 5"));
    REQUIRE(s.status == 0);
    CHECK(s.output.rfind("the ", 0) == 0);  // the prompt, then what the model wrote
    CHECK(s.output.size() == 4 + 40 + 1);   // 40 new bytes and a newline
  }
  // greedy twice: the same text; a prompt byte outside the vocabulary is a named error
  const std::string greedy = chargpt(" --sample " + out +
                                     "/chargpt.safetensors --prompt the --temperature 0"
                                     " --max-new-tokens 30");
  CHECK(testing::run_program(greedy).output == testing::run_program(greedy).output);
  const auto bad = testing::run_program(chargpt(" --sample " + out + "/chargpt.safetensors --prompt theZ"));
  CHECK(bad.status == 1);
  CHECK_THAT(bad.output, Contains("--prompt: the byte \"Z\" at 3 is not in the model's vocabulary of"));
}

TEST_CASE("train_chargpt: the same seed gives the same checkpoint bytes with 1 or 2 threads, and resumes") {
  const std::string data = small_text_file();
  std::string bytes[2];
  for (int threads : {1, 2}) {
    const std::string out = testing::scratch_path("chargpt", "det" + std::to_string(threads));
    const auto r =
        testing::run_program(chargpt(" --data " + data + kTiny + " --steps 12 --eval-interval 6" +
                                     " --overwrite --threads " + std::to_string(threads) + " --out " + out));
    REQUIRE(r.status == 0);
    std::ifstream in(out + "/chargpt.safetensors", std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    bytes[threads - 1] = s.str();
  }
  CHECK(!bytes[0].empty());
  CHECK(bytes[0] == bytes[1]);
  const std::string out = testing::scratch_path("chargpt", "det1");
  const auto resumed = testing::run_program(
      chargpt(" --data " + data + kTiny + " --steps 20 --resume" + " --eval-interval 6 --out " + out));
  REQUIRE(resumed.status == 0);
  CHECK_THAT(resumed.output, Contains("resumed") && Contains("at step 12") && Contains("step 20: train"));
}

TEST_CASE("train_chargpt: bad input is refused by name") {
  const auto missing = testing::run_program(chargpt(" --data /nonexistent/x.txt"));
  CHECK(missing.status == 1);
  CHECK_THAT(missing.output, Contains("--data: cannot read \"/nonexistent/x.txt\""));
  const std::string tiny = testing::scratch_path("chargpt", "tiny.txt");
  std::ofstream(tiny) << "abcabc";
  const auto shortt = testing::run_program(chargpt(" --data " + tiny));
  CHECK(shortt.status == 1);
  CHECK_THAT(shortt.output, Contains("--data: the text has 6 bytes"));
  const auto arch = testing::run_program(chargpt(" --arch mamba"));
  CHECK(arch.status == 2);
  CHECK_THAT(arch.output, Contains("--arch"));
  const auto temp = testing::run_program(chargpt(" --temperature -1"));
  CHECK(temp.status == 2);
  CHECK_THAT(temp.output, Contains("--temperature"));
}

TEST_CASE("train_chargpt: a short run on tinyshakespeare lowers the validation loss (needs ../shared)") {
  const std::string data = std::string(QKV_SOURCE_DIR) + "/../shared/data/tinyshakespeare.txt";
  if (!std::filesystem::exists(data)) {
    WARN("skipped: " << data << " is absent (only some machines have ../shared)");
    return;
  }
  const std::string out = testing::scratch_path("chargpt", "shakespeare");
  const auto r = testing::run_program(chargpt(" --data " + data +
                                              " --steps 40 --eval-interval 40 "
                                              "--eval-iters 4 --overwrite --out " +
                                              out));
  REQUIRE(r.status == 0);
  CHECK_THAT(r.output, Contains("1115394 bytes, vocabulary 65"));
  CHECK(last_val(r.output) < first_val(r.output) - 1.0);
}

#endif
