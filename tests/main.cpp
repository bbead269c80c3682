// Catch2 v2 needs one file that defines main(); v3 links Catch2WithMain instead.
#if defined(QKV_CATCH2_MAIN)
#define CATCH_CONFIG_MAIN
#endif
#include "catch.h"
