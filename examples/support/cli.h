// What the example programs share on the command line: flags (--steps 3000 --lr 3e-3 ...) with --help,
// and a progress bar that redraws one line on a terminal and prints plain periodic lines otherwise.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace qkv::cli {

class Flags {
 public:
  Flags(std::string program, std::string about) : program_(std::move(program)), about_(std::move(about)) {}
  // Declare before parse(): a flag with a value (its default shown in --help), or a switch.
  Flags& option(const std::string& name, const std::string& default_value, const std::string& help);
  Flags& toggle(const std::string& name, const std::string& help);
  // Returns false after printing help (--help) ; throws qkv::Error on an unknown flag or a missing value.
  bool parse(int argc, char** argv);

  std::string str(const std::string& name) const;
  int64_t integer(const std::string& name) const;  // throws naming the flag if the value is not a number
  double number(const std::string& name) const;
  bool on(const std::string& name) const;
  bool given(const std::string& name) const;  // set on the command line, not just defaulted

 private:
  struct Spec {
    std::string value, help;
    bool is_toggle = false, given = false;
  };
  const Spec& spec(const std::string& name) const;
  template <class Convert>
  auto parsed(const std::string& name, const char* kind, Convert convert) const;
  std::string program_, about_;
  std::vector<std::string> order_;
  std::map<std::string, Spec> specs_;
};

// The examples' last line, which CI reads: "exact-match accuracy: 99.6% (996/1000)".
void print_accuracy(int64_t exact, int64_t total);

class Progress {
 public:
  Progress(int64_t first_step, int64_t total_steps);
  // Call once per step; redraws on a terminal at most 10 times a second, else prints every `every` steps.
  void update(int64_t step, float loss, int64_t every = 200);
  void note_accuracy(double accuracy) { accuracy_ = accuracy; }  // shown from then on
  void finish();                                                 // ends the bar's line

 private:
  std::string line(int64_t step, float loss) const;
  int64_t first_, total_;
  double accuracy_ = -1;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace qkv::cli
