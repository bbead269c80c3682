// The examples' flags (examples/support/cli.h) in-process: every value is checked against its flag's range
// when parse() runs, before a program does anything, and an error names the program, the flag and the
// value (issue 12). test_refusals_cli.cpp runs the programs themselves.
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "helpers.h"
#include "support/cli.h"

using namespace qkv;
using Catch::Contains;

namespace {

// The flags of a small training program.
cli::Flags training_flags() {
  cli::Flags flags("train_reverse", "Train something.");
  flags.integer_option("steps", "2000", 1, 10'000'000, "total training steps")
      .integer_option("threads", "0", 0, 1024, "threads")
      .number_option("lr", "5e-3", cli::Range::above(0, 1), "peak learning rate")
      .choice_option("config", "all", {"reverse", "gpt", "all"}, "which to run")
      .option("out", "runs/reverse", "folder")
      .toggle("resume", "continue");
  return flags;
}

// Parses args (without the program's name) into fresh training_flags(); returns them.
cli::Flags parsed(std::vector<std::string> args) {
  args.insert(args.begin(), "train_reverse");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  cli::Flags flags = training_flags();
  flags.parse(int(argv.size()), argv.data());
  return flags;
}

}  // namespace

TEST_CASE("flags: values within range are read and defaults apply") {
  const cli::Flags flags = parsed({"--steps", "30", "--lr", "1", "--resume", "--config", "gpt"});
  CHECK(flags.integer("steps") == 30);
  CHECK(flags.number("lr") == 1.0);
  CHECK(flags.str("config") == "gpt");
  CHECK(flags.on("resume"));
  CHECK(flags.integer("threads") == 0);
  CHECK_FALSE(flags.given("threads"));
  CHECK(flags.str("out") == "runs/reverse");
  CHECK(parsed({"--out", "-5"}).str("out") == "-5");  // a text value may start with a single dash
}

TEST_CASE("flags: an integer outside its range names the program the flag and the value") {
  CHECK(ERROR_OF(parsed({"--steps", "0"})) ==
        "train_reverse: --steps must be an integer in [1, 10000000], got 0");
  CHECK_THAT(ERROR_OF(parsed({"--steps", "-5"})), Contains("got -5"));
  CHECK_THAT(ERROR_OF(parsed({"--steps", "10000001"})), Contains("got 10000001"));
  CHECK_THAT(ERROR_OF(parsed({"--threads", "3000000000"})),
             Contains("train_reverse: --threads must be an integer in [0, 1024], got 3000000000"));
  CHECK_THAT(ERROR_OF(parsed({"--steps", "99999999999999999999"})), Contains("got 99999999999999999999"));
  CHECK_THAT(ERROR_OF(parsed({"--steps", "3.5"})), Contains("got 3.5"));  // a number, but not whole
  CHECK_THAT(ERROR_OF(parsed({"--steps", "1e3"})), Contains("got 1e3"));
  for (const char* bad : {"abc", "", " 3", "3 ", "0x10"})
    CHECK_THAT(ERROR_OF(parsed({"--steps", bad})),
               Contains(std::string("--steps must be an integer in [1, 10000000], got \"") + bad + "\""));
  CHECK_THAT(ERROR_OF(parsed({"--steps", "\x1b[2J"})), Contains("got \"\\x1B[2J\""));
}

TEST_CASE("flags: a number must be finite and within its range") {
  for (const char* bad : {"inf", "-inf", "nan", "0", "-1", "1.5", "1e400"})
    CHECK_THAT(ERROR_OF(parsed({"--lr", bad})),
               Contains(std::string("train_reverse: --lr must be a finite number in (0, 1], got ") + bad));
  CHECK_THAT(ERROR_OF(parsed({"--lr", "fast"})),
             Contains("--lr must be a finite number in (0, 1], got \"fast\""));
  CHECK(parsed({"--lr", "1e-7"}).number("lr") == 1e-7);
  CHECK(cli::Range::closed(0, 1).text() == "[0, 1]");
  CHECK(cli::Range::above(0, 10).text() == "(0, 10]");
}

TEST_CASE("flags: a choice names the choices") {
  CHECK(ERROR_OF(parsed({"--config", "nope"})) ==
        "train_reverse: --config must be one of reverse, gpt, all, got \"nope\"");
}

TEST_CASE("flags: a flag followed by another flag is missing its value") {
  CHECK(ERROR_OF(parsed({"--steps", "--threads", "1"})) ==
        "train_reverse: --steps is missing its value (the next argument is the flag --threads)");
  CHECK(ERROR_OF(parsed({"--steps"})) == "train_reverse: --steps is missing its value");
}

TEST_CASE("flags: unknown flags and stray arguments are refused") {
  CHECK(ERROR_OF(parsed({"--bogus"})) == "train_reverse: unknown flag \"--bogus\" (see --help)");
  CHECK(ERROR_OF(parsed({"1"})) ==
        "train_reverse: unexpected argument \"1\" (flags start with --; see --help)");
  CHECK_THAT(ERROR_OF(parsed({"--steps", "5", "--steps", "6"})),
             Contains("train_reverse: --steps is given twice"));
  CHECK_THAT(ERROR_OF(parsed({"--resume", "--resume"})), Contains("--resume is given twice"));
}

TEST_CASE("flags: reading a flag as the wrong kind is a programming error") {
  const cli::Flags flags = parsed({});
  CHECK_THAT(ERROR_OF(flags.integer("out")), Contains("--out is not an integer flag"));
  CHECK_THAT(ERROR_OF(flags.number("steps")), Contains("--steps is not a number flag"));
  CHECK_THAT(ERROR_OF(flags.str("nothing")), Contains("no flag named --nothing"));
}

TEST_CASE("flags: a default outside its own range is refused when declared") {
  cli::Flags flags("demo", "");
  CHECK(ERROR_OF(flags.integer_option("steps", "0", 1, 10, "")) ==
        "demo: --steps must be an integer in [1, 10], got 0");
  CHECK_THAT(ERROR_OF(flags.choice_option("config", "x", {"a"}, "")), Contains("--config must be one of a"));
}

TEST_CASE("flags: help lists every flag with its default and range") {
  std::ostringstream captured;
  std::streambuf* saved = std::cout.rdbuf(captured.rdbuf());
  bool go_on = true;
  try {
    std::string program = "train_reverse", help = "--help";
    char* argv[] = {program.data(), help.data()};
    cli::Flags flags = training_flags();
    go_on = flags.parse(2, argv);
  } catch (...) {
    std::cout.rdbuf(saved);
    throw;
  }
  std::cout.rdbuf(saved);
  CHECK_FALSE(go_on);
  const std::string text = captured.str();
  CHECK_THAT(text, Contains("usage: train_reverse [flags]") && Contains("--steps 2000") &&
                       Contains("[1, 10000000]") && Contains("(0, 1]") && Contains("reverse, gpt, all") &&
                       Contains("--resume"));
}
