// The op profiler (torch.profiler's key_averages().table(), small): how many times each differentiable op
// ran forward and backward in a stretch of code, how long it took, and its share of the stretch.
//   {
//     profiler::Profile profile;           // on while it lives
//     ... training steps ...
//     std::cout << profile.table();        // one row per op, sorted by total time
//   }
// QKV_PROFILE=1 turns it on for a whole program and prints the table on stderr at exit.
//
// Where the times come from, with one hook each:
//   forward   record() (autograd/backward.cpp), which every op calls once its kernel has run: the op's
//             time is the time since the previous op ended (or since mark(), or the profile began). So it
//             includes any work between two ops that is not an op (building a mask, making a batch);
//             call mark() after such work to leave it out. Ops run on the calling thread, one at a time.
//   backward  the engine times each node's backward function; the gradient sums where paths meet and the
//             additions into leaves' .grad are the row "accumulate_grad" (PyTorch's AccumulateGrad).
// A Tap, the same hook's other use, sees every op's name, inputs and output while it lives: a tool can look
// inside a forward without the model's help (examples/support/explorer.cpp reads the queries, keys and
// values each attention op was given). When both are off, each op pays one relaxed atomic load. Leaves out: memory, per-shape rows, kernels called
// directly (tensor/), threads inside a kernel (their time is the op's wall time).
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace qkv::profiler {

namespace detail {
extern std::atomic<bool> on;        // a Profile records
extern std::atomic<bool> any_hook;  // a Profile or a Tap: the one flag record() reads
}  // namespace detail
inline bool enabled() { return detail::on.load(std::memory_order_relaxed); }
inline bool hooked() { return detail::any_hook.load(std::memory_order_relaxed); }

// The hooks. record() calls op_done once an op's kernel has run (it times it and shows it to the tap);
// the backward engine calls backward_took.
void op_done(const char* op, const std::vector<Tensor>& inputs, const Tensor& out);
void forward_done(const char* op);
void backward_took(const std::string& op, double seconds);
// Ends the current gap: work since the previous op is not counted as the next op's forward.
void mark();

struct OpStats {
  std::string name;
  int64_t forward_calls = 0, backward_calls = 0;
  double forward_seconds = 0, backward_seconds = 0;
  double total_seconds() const { return forward_seconds + backward_seconds; }
};

// Records while it lives (profiles do not nest: a second one while one lives is refused).
class Profile {
 public:
  Profile();
  ~Profile();
  Profile(const Profile&) = delete;
  Profile& operator=(const Profile&) = delete;
  std::vector<OpStats> ops() const;  // sorted by total time, largest first
  double seconds() const;            // wall time since the profile began
  // The table: op, forward calls and ms, backward calls and ms, total ms, share of the wall time; then
  // the ops' sum and the wall time. `steps` > 1 also shows ms per step.
  std::string table(int64_t steps = 1) const;

 private:
  std::chrono::steady_clock::time_point start_;
};

// Shows every op to `see` while it lives (one tap at a time; taps do not nest). Called on the op's thread.
using OpObserver = std::function<void(const char* op, const std::vector<Tensor>& inputs, const Tensor& out)>;
class Tap {
 public:
  explicit Tap(OpObserver see);
  ~Tap();
  Tap(const Tap&) = delete;
  Tap& operator=(const Tap&) = delete;
};

// The table of any stats over a wall time (Profile::table uses it; QKV_PROFILE=1 prints it at exit).
std::string format_table(const std::vector<OpStats>& ops, double wall_seconds, int64_t steps = 1);

}  // namespace qkv::profiler
