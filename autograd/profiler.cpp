// The op profiler (see profiler.h): a table of op name -> calls and seconds, filled by two hooks.
#include "autograd/profiler.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>

#include "tensor/error.h"

namespace qkv::profiler {

namespace detail {
std::atomic<bool> on{false};
std::atomic<bool> any_hook{false};
}  // namespace detail

namespace {

using Clock = std::chrono::steady_clock;

struct State {
  std::mutex mutex;
  std::map<std::string, OpStats> ops;
  Clock::time_point last_event = Clock::now();  // the end of the previous op, or the last mark()
  Clock::time_point started = Clock::now();
};

State& state() {
  static State s;
  return s;
}

void start() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  s.ops.clear();
  s.started = s.last_event = Clock::now();
  detail::on.store(true, std::memory_order_relaxed);
  detail::any_hook.store(true, std::memory_order_relaxed);
}

std::vector<OpStats> snapshot() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  std::vector<OpStats> out;
  for (const auto& [name, stats] : s.ops) out.push_back(stats);
  std::stable_sort(out.begin(), out.end(),
                   [](const OpStats& a, const OpStats& b) { return a.total_seconds() > b.total_seconds(); });
  return out;
}

// QKV_PROFILE=1: on from the start of the program; the table goes to stderr at exit.
struct FromEnvironment {
  FromEnvironment() {
    const char* v = std::getenv("QKV_PROFILE");
    if (!v || std::string(v) == "0" || std::string(v).empty()) return;
    start();
    std::atexit([] {
      const double wall = std::chrono::duration<double>(Clock::now() - state().started).count();
      std::cerr << "QKV_PROFILE: ops of the whole run\n" << format_table(snapshot(), wall);
    });
  }
} from_environment;

}  // namespace

namespace {

OpObserver& observer() {
  static OpObserver o;
  return o;
}

void update_any_hook() { detail::any_hook.store(enabled() || bool(observer()), std::memory_order_relaxed); }

}  // namespace

void op_done(const char* op, const std::vector<Tensor>& inputs, const Tensor& out) {
  if (enabled()) forward_done(op);
  if (observer()) observer()(op, inputs, out);
}

Tap::Tap(OpObserver see) {
  if (observer()) fail("Tap", "an op tap is already set (taps do not nest)");
  observer() = std::move(see);
  update_any_hook();
}

Tap::~Tap() {
  observer() = nullptr;
  update_any_hook();
}

void forward_done(const char* op) {
  State& s = state();
  const Clock::time_point now = Clock::now();
  std::lock_guard lock(s.mutex);
  OpStats& stats = s.ops[op];
  stats.name = op;
  ++stats.forward_calls;
  stats.forward_seconds += std::chrono::duration<double>(now - s.last_event).count();
  s.last_event = now;
}

void backward_took(const std::string& op, double seconds) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  OpStats& stats = s.ops[op];
  stats.name = op;
  ++stats.backward_calls;
  stats.backward_seconds += seconds;
  s.last_event = Clock::now();  // the next forward starts counting after the backward
}

void mark() {
  if (!enabled()) return;
  State& s = state();
  std::lock_guard lock(s.mutex);
  s.last_event = Clock::now();
}

Profile::Profile() {
  if (enabled())
    fail("Profile", "a profile is already recording (profiles do not nest; QKV_PROFILE=1 counts)");
  start();
  start_ = state().started;
}

Profile::~Profile() {
  detail::on.store(false, std::memory_order_relaxed);
  update_any_hook();
}

std::vector<OpStats> Profile::ops() const { return snapshot(); }

double Profile::seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

std::string Profile::table(int64_t steps) const { return format_table(ops(), seconds(), steps); }

std::string format_table(const std::vector<OpStats>& ops, double wall, int64_t steps) {
  std::string out;
  char line[256];
  auto ms = [](double s) { return s * 1e3; };
  std::snprintf(line, sizeof line, "%-26s %10s %11s %10s %11s %11s %8s\n", "op", "fwd calls", "fwd ms",
                "bwd calls", "bwd ms", "total ms", "% wall");
  out += line;
  OpStats sum{"all ops"};
  for (const OpStats& o : ops) {
    std::snprintf(line, sizeof line, "%-26s %10lld %11.3f %10lld %11.3f %11.3f %7.1f%%\n", o.name.c_str(),
                  (long long)o.forward_calls, ms(o.forward_seconds), (long long)o.backward_calls,
                  ms(o.backward_seconds), ms(o.total_seconds()),
                  wall > 0 ? 100 * o.total_seconds() / wall : 0);
    out += line;
    sum.forward_calls += o.forward_calls, sum.backward_calls += o.backward_calls;
    sum.forward_seconds += o.forward_seconds, sum.backward_seconds += o.backward_seconds;
  }
  std::snprintf(line, sizeof line, "%-26s %10lld %11.3f %10lld %11.3f %11.3f %7.1f%%\n", "all ops",
                (long long)sum.forward_calls, ms(sum.forward_seconds), (long long)sum.backward_calls,
                ms(sum.backward_seconds), ms(sum.total_seconds()),
                wall > 0 ? 100 * sum.total_seconds() / wall : 0);
  out += line;
  std::snprintf(line, sizeof line, "wall time %.3f ms", ms(wall));
  out += line;
  if (steps > 1) {
    std::snprintf(line, sizeof line, " over %lld steps: %.3f ms per step", (long long)steps,
                  ms(wall) / double(steps));
    out += line;
  }
  out += "\n";
  return out;
}

}  // namespace qkv::profiler
