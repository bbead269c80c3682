// The one include for tests: Catch2 v3 where the user has it, else Debian's v2.13. Tests spell the two
// names that differ between them as Catch::Approx and Catch::Contains (a substring matcher).
#pragma once
#if defined(QKV_CATCH2_V3)
#include <catch2/catch_all.hpp>
namespace Catch {
inline Matchers::StringContainsMatcher Contains(const std::string& text) { return Matchers::ContainsSubstring(text); }
}  // namespace Catch
#else
#include <catch2/catch.hpp>
namespace Catch {
using Detail::Approx;
}  // namespace Catch
#endif
