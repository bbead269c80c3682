// Flags and the progress bar (see cli.h).
#include "support/cli.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "tensor/error.h"

namespace qkv::cli {

Flags& Flags::option(const std::string& name, const std::string& default_value, const std::string& help) {
  order_.push_back(name);
  specs_[name] = Spec{default_value, help, false, false};
  return *this;
}

Flags& Flags::toggle(const std::string& name, const std::string& help) {
  order_.push_back(name);
  specs_[name] = Spec{"", help, true, false};
  return *this;
}

bool Flags::parse(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << "usage: " << program_ << " [flags]\n" << about_ << "\n\nflags:\n";
      for (const auto& name : order_) {
        const Spec& s = specs_.at(name);
        std::string left = "  --" + name + (s.is_toggle ? "" : " " + (s.value.empty() ? "X" : s.value));
        std::cout << left << std::string(left.size() < 28 ? 28 - left.size() : 1, ' ') << s.help << "\n";
      }
      return false;
    }
    if (arg.rfind("--", 0) != 0 || !specs_.count(arg.substr(2)))
      fail("flags", "unknown flag '" + arg + "' (see --help)");
    Spec& s = specs_[arg.substr(2)];
    s.given = true;
    if (s.is_toggle) continue;
    if (i + 1 >= argc) fail("flags", "flag " + arg + " needs a value");
    s.value = argv[++i];
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

// A flag's value converted by stoll/stod, which must use all of it ("3e-3x" and "" are errors).
template <class Convert>
auto Flags::parsed(const std::string& name, const char* kind, Convert convert) const {
  const std::string& v = spec(name).value;
  size_t used = 0;
  decltype(convert(v, &used)) x{};
  try {
    x = convert(v, &used);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != v.size()) fail("flags", "--" + name + " needs " + kind + ", got '" + v + "'");
  return x;
}

int64_t Flags::integer(const std::string& name) const {
  return parsed(name, "a whole number",
                [](const std::string& v, size_t* used) { return std::stoll(v, used); });
}

double Flags::number(const std::string& name) const {
  return parsed(name, "a number", [](const std::string& v, size_t* used) { return std::stod(v, used); });
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
