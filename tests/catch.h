// The one include for tests: Catch2 v3 where the user has it, else Debian's v2.13.
#pragma once
#if defined(QKV_CATCH2_V3)
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif
