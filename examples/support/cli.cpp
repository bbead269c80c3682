// Flags, the checks the training programs share before they write, and the progress bar (see cli.h).
#include "support/cli.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "nn/io/checkpoint_metadata.h"
#include "nn/summary.h"
#include "tensor/parallel.h"

namespace qkv::cli {
namespace {

std::string number_text(double x) {
  std::ostringstream s;
  s << x;
  return s.str();
}

// A value as a message shows it: as typed when it reads as a number ("0", "3.5" for an integer flag,
// "1e400", "inf"), else quoted and escaped ("abc", "", bytes that would garble a terminal).
std::string shown(const std::string& v) {
  double x;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  const bool number = !v.empty() && end == v.data() + v.size() && ec != std::errc::invalid_argument;
  return number ? v : quote(v);
}

}  // namespace

bool Range::contains(double x) const {
  return std::isfinite(x) && (lo_open ? x > lo : x >= lo) && (hi_open ? x < hi : x <= hi);
}

std::string Range::text() const {
  return (lo_open ? "(" : "[") + number_text(lo) + ", " + number_text(hi) + (hi_open ? ")" : "]");
}

void Flags::refuse(const std::string& what) const { throw UsageError(program_ + ": " + what); }

Flags& Flags::declare(const std::string& name, Spec spec) {
  if (specs_.count(name)) fail("flags", "--" + name + " is declared twice");
  check(name, spec);  // the program's own default must be a value it accepts
  order_.push_back(name);
  specs_.insert_or_assign(name, std::move(spec));
  return *this;
}

Flags& Flags::option(const std::string& name, const std::string& default_value, const std::string& help) {
  return declare(name, Spec(Kind::text, default_value, help));
}

Flags& Flags::integer_option(const std::string& name, const std::string& default_value, int64_t lo,
                             int64_t hi, const std::string& help) {
  Spec s(Kind::integer, default_value, help);
  s.lo = lo;
  s.hi = hi;
  return declare(name, s);
}

Flags& Flags::number_option(const std::string& name, const std::string& default_value, Range range,
                            const std::string& help) {
  Spec s(Kind::number, default_value, help);
  s.range = range;
  return declare(name, s);
}

Flags& Flags::choice_option(const std::string& name, const std::string& default_value,
                            const std::vector<std::string>& choices, const std::string& help) {
  Spec s(Kind::choice, default_value, help);
  s.choices = choices;
  return declare(name, s);
}

Flags& Flags::toggle(const std::string& name, const std::string& help) {
  return declare(name, Spec(Kind::toggle, "", help));
}

// Whether s.value is a value of its kind, read whole: "3e-3x", "" and " 3" are not numbers.
void Flags::check(const std::string& name, const Spec& s) const {
  const char *first = s.value.data(), *last = first + s.value.size();
  const std::string got = ", got " + shown(s.value);
  if (s.kind == Kind::integer) {
    int64_t x = 0;
    const auto [end, ec] = std::from_chars(first, last, x);
    if (s.value.empty() || end != last || ec != std::errc() || x < s.lo || x > s.hi)
      refuse("--" + name + " must be an integer in " + accepts(s) + got);
  } else if (s.kind == Kind::number) {
    double x = 0;
    const auto [end, ec] = std::from_chars(first, last, x);
    if (s.value.empty() || end != last || ec != std::errc() || !s.range.contains(x))
      refuse("--" + name + " must be a finite number in " + accepts(s) + got);
  } else if (s.kind == Kind::choice) {
    if (std::find(s.choices.begin(), s.choices.end(), s.value) == s.choices.end())
      refuse("--" + name + " must be one of " + accepts(s) + ", got " + quote(s.value));
  }
}

std::string Flags::accepts(const Spec& s) const {
  if (s.kind == Kind::integer) return "[" + std::to_string(s.lo) + ", " + std::to_string(s.hi) + "]";
  if (s.kind == Kind::number) return s.range.text();
  std::string list;
  for (const std::string& c : s.choices) list += (list.empty() ? "" : ", ") + c;
  return list;
}

bool Flags::parse(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << "usage: " << program_ << " [flags]\n" << about_ << "\n\nflags:\n";
      for (const auto& name : order_) {
        const Spec& s = specs_.at(name);
        const bool is_toggle = s.kind == Kind::toggle;
        std::string left = "  --" + name + (is_toggle ? "" : " " + (s.value.empty() ? "X" : s.value));
        std::cout << left << std::string(left.size() < 28 ? 28 - left.size() : 1, ' ') << s.help;
        if (s.kind != Kind::text && !is_toggle)
          std::cout << (s.kind == Kind::choice ? ", one of " : " in ") << accepts(s);
        std::cout << "\n";
      }
      return false;
    }
    if (arg.rfind("--", 0) != 0)
      refuse("unexpected argument " + quote(arg) + " (flags start with --; see --help)");
    const auto it = specs_.find(arg.substr(2));
    if (it == specs_.end()) refuse("unknown flag " + quote(arg) + " (see --help)");
    Spec& s = it->second;
    if (s.given) refuse(arg + " is given twice");
    s.given = true;
    if (s.kind == Kind::toggle) continue;
    if (i + 1 >= argc) refuse(arg + " is missing its value");
    // "--steps --seed 1" means --steps lost its value, not that "1" is a stray argument
    const std::string value = argv[++i];
    if (value.rfind("--", 0) == 0)
      refuse(arg + " is missing its value (the next argument is the flag " + value + ")");
    s.value = value;
    check(it->first, s);
  }
  return true;
}

const Flags::Spec& Flags::spec(const std::string& name) const {
  auto it = specs_.find(name);
  if (it == specs_.end()) fail("flags", "no flag named --" + name);
  return it->second;
}

std::string Flags::str(const std::string& name) const { return spec(name).value; }
bool Flags::on(const std::string& name) const { return spec(name).given; }
bool Flags::given(const std::string& name) const { return spec(name).given; }

// Values were checked by parse(): these only read them.
int64_t Flags::integer(const std::string& name) const {
  const Spec& s = spec(name);
  if (s.kind != Kind::integer) fail("flags", "--" + name + " is not an integer flag");
  int64_t x = 0;
  std::from_chars(s.value.data(), s.value.data() + s.value.size(), x);
  return x;
}

double Flags::number(const std::string& name) const {
  const Spec& s = spec(name);
  if (s.kind != Kind::number) fail("flags", "--" + name + " is not a number flag");
  double x = 0;
  std::from_chars(s.value.data(), s.value.data() + s.value.size(), x);
  return x;
}

void check_against_checkpoint(const Flags& flags, const std::string& path, bool resume) {
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  if (!folder.empty() && std::filesystem::exists(folder) && !std::filesystem::is_directory(folder))
    flags.refuse("--out " + folder.string() + " is a file, not a folder");
  const bool exists = std::filesystem::exists(path);
  if (resume && !exists) flags.refuse("--resume: there is no checkpoint " + path + " to continue");
  if (!exists || flags.on("overwrite")) return;
  const int64_t steps = flags.integer("steps");
  int64_t saved = -1;
  try {
    saved = nn::read_metadata(path).integer("step", 0, INT64_MAX);
  } catch (const Error& e) {
    flags.refuse(path + " is kept: it cannot be read as a checkpoint (" + e.what() + ")" +
                 (resume ? "" : "; --overwrite replaces it, or choose another --out"));
  }
  if (resume && saved >= steps)
    flags.refuse(path + " is at step " + std::to_string(saved) + ": --resume needs more --steps, got " +
                 std::to_string(steps));
  if (!resume && saved > steps)
    flags.refuse("--steps " + std::to_string(steps) + " would replace " + path + ", trained for " +
                 std::to_string(saved) + " steps, with a shorter run; --resume continues it, --overwrite " +
                 "replaces it anyway, or choose another --out");
}

void check_loss(float loss, int64_t step) {
  if (!std::isfinite(loss))
    fail("training", "the loss is " + number_text(loss) + " at step " + std::to_string(step + 1) +
                         ": the run diverged and stops here, saving nothing (a smaller --lr may help)");
}

void use_threads(int64_t threads) {
  if (threads > 0) set_num_threads(threads);
  get_num_threads();  // starts the pool: throws now if QKV_NUM_THREADS is malformed
}

int report_error(const std::string& program, const std::exception& e) {
  const bool usage = dynamic_cast<const UsageError*>(&e) != nullptr;
  std::cerr << (usage ? "" : program + ": ") << e.what() << "\n";
  return usage ? 2 : 1;
}

Flags& summary_toggle(Flags& flags) {
  return flags.toggle("summary", "print the model's modules, parameter shapes and counts, then stop");
}

bool print_summary(const Flags& flags, const nn::Module& model) {
  if (!flags.on("summary")) return false;
  std::cout << nn::summary(model);
  return true;
}

void print_accuracy(int64_t exact, int64_t total) {
  std::printf("exact-match accuracy: %.1f%% (%lld/%lld)\n", 100.0 * double(exact) / double(total),
              (long long)exact, (long long)total);
}

Progress::Progress(int64_t first_step, int64_t total_steps)
    : first_(first_step),
      total_(total_steps),
      tty_(isatty(STDOUT_FILENO)),
      start_(std::chrono::steady_clock::now()) {}

std::string Progress::line(int64_t step, float loss) const {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? double(step - first_) / elapsed : 0;
  const double eta = rate > 0 ? double(total_ - step) / rate : 0;
  char buf[160];
  const int width = 24, filled = int(width * double(step) / double(std::max<int64_t>(total_, 1)));
  std::string bar = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
  std::snprintf(buf, sizeof buf, "step %lld/%lld  loss %.4f", (long long)step, (long long)total_, loss);
  std::string s = (tty_ ? bar : "") + buf;
  if (accuracy_ >= 0) {
    std::snprintf(buf, sizeof buf, "  acc %.1f%%", 100 * accuracy_);
    s += buf;
  }
  std::snprintf(buf, sizeof buf, "  %.1f steps/s  ETA %d:%02d", rate, int(eta) / 60, int(eta) % 60);
  return s + buf;
}

void Progress::update(int64_t step, float loss, int64_t every) {
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (step == total_ || now - last_draw_ > std::chrono::milliseconds(100)) {
      std::cout << "\r" << line(step, loss) << "\033[K" << std::flush;
      last_draw_ = now;
    }
  } else if (step % every == 0 || step == total_) {
    std::cout << line(step, loss) << "\n" << std::flush;
  }
}

void Progress::finish() {
  if (tty_) std::cout << "\n";
}

}  // namespace qkv::cli
