// What the example programs share on the command line: flags (--steps 3000 --lr 3e-3 ...) with --help,
// and a progress bar that redraws one line on a terminal and prints plain periodic lines otherwise.
// Every flag declares what it accepts, and parse() checks every value before the program does anything.
#pragma once
#include <chrono>
#include <cstdint>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "tensor/error.h"

namespace qkv::nn {
class Module;
}

namespace qkv::cli {

// A bad command line. Its message already names the program: "train_reverse: --steps must be ...".
struct UsageError : Error {
  using Error::Error;
};

// An interval of real numbers, written as in maths: [0, 1] holds both ends, (0, 1] leaves out 0.
struct Range {
  double lo, hi;
  bool lo_open = false, hi_open = false;
  static Range closed(double lo, double hi) { return {lo, hi, false, false}; }  // [lo, hi]
  static Range above(double lo, double hi) { return {lo, hi, true, false}; }    // (lo, hi]
  bool contains(double x) const;                                                // false for NaN
  std::string text() const;                                                     // "(0, 1]"
};

class Flags {
 public:
  Flags(std::string program, std::string about) : program_(std::move(program)), about_(std::move(about)) {}
  // Declare before parse(); each default is written as on the command line and checked as a given value.
  Flags& option(const std::string& name, const std::string& default_value, const std::string& help);  // text
  Flags& integer_option(const std::string& name, const std::string& default_value, int64_t lo, int64_t hi,
                        const std::string& help);  // a whole number in [lo, hi]
  Flags& number_option(const std::string& name, const std::string& default_value, Range range,
                       const std::string& help);  // a finite number in range
  Flags& choice_option(const std::string& name, const std::string& default_value,
                       const std::vector<std::string>& choices, const std::string& help);
  Flags& toggle(const std::string& name, const std::string& help);
  // Returns false after printing help (--help). Checks every value; throws UsageError on an unknown flag,
  // a flag given twice, a missing value (also when the next argument is a flag: "--steps --seed 1"), or
  // a value its flag does not accept.
  bool parse(int argc, char** argv);

  std::string str(const std::string& name) const;
  int64_t integer(const std::string& name) const;  // of an integer_option
  double number(const std::string& name) const;    // of a number_option
  bool on(const std::string& name) const;
  bool given(const std::string& name) const;  // set on the command line, not just defaulted
  // Throws UsageError("program: what"), for a program's own checks (two flags that do not go together).
  [[noreturn]] void refuse(const std::string& what) const;

 private:
  enum class Kind { text, integer, number, choice, toggle };
  struct Spec {
    Spec(Kind kind, std::string value, std::string help)
        : kind(kind), value(std::move(value)), help(std::move(help)) {}
    Kind kind;
    std::string value, help;
    int64_t lo = 0, hi = 0;  // integer
    Range range{0, 0};       // number
    std::vector<std::string> choices;
    bool given = false;
  };
  Flags& declare(const std::string& name, Spec spec);
  void check(const std::string& name, const Spec& s) const;  // throws UsageError naming name and value
  std::string accepts(const Spec& s) const;                  // "[1, 10000000]", "{a, b}" for --help
  const Spec& spec(const std::string& name) const;
  std::string program_, about_;
  std::vector<std::string> order_;
  std::map<std::string, Spec> specs_;
};

// --threads N: N >= 1 sets the pool's count; 0 keeps QKV_NUM_THREADS or every core, and reads it now,
// so a malformed QKV_NUM_THREADS stops the program before it writes anything.
void use_threads(int64_t threads);

// The training programs' promise about the checkpoint already at path (<out>/task.safetensors), checked
// before anything is written. A new run replaces it only with one trained at least as far (its metadata
// "step" <= --steps), so a mistyped --steps cannot throw away a long run, and a file that cannot be read is
// kept too; --overwrite replaces it anyway. With resume, it must exist and be at a step below --steps.
// Reads flags steps and overwrite; throws UsageError naming the file and the steps.
void check_against_checkpoint(const Flags& flags, const std::string& path, bool resume);

// Stops a run whose loss is not finite (nan, inf: the run diverged) before it saves anything.
void check_loss(float loss, int64_t step);

// main's catch: prints "program: message" on stderr (a UsageError's message names the program already)
// and returns the exit status: 2 for a bad command line, 1 for any other failure.
int report_error(const std::string& program, const std::exception& e);

// --summary: the examples that build a model declare summary_toggle(flags) and, once the model exists,
// stop with `if (print_summary(flags, model)) return 0;` after it printed the module tree (nn/summary.h).
Flags& summary_toggle(Flags& flags);
bool print_summary(const Flags& flags, const nn::Module& model);

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
