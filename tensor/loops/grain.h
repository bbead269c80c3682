// How much work a thread gets from parallel_for in the kernels: below about 8k elements (a few
// microseconds), handing work to a thread costs more than it saves. Internal to tensor/.
#pragma once
#include <algorithm>
#include <cstdint>

namespace qkv::kernels {

inline constexpr int64_t kElementwiseGrain = int64_t{1} << 13;

// The grain, in rows, for a loop whose every row touches `width` elements.
inline int64_t grain_for_rows(int64_t width) {
  return std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(width, 1));
}

}  // namespace qkv::kernels
