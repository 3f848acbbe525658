// SPDX-License-Identifier: BSD-3-Clause
// Test main: Kokkos is initialised only when tests run, not when CTest lists them
// (--gtest_list_tests), so test discovery stays fast and side-effect free.
#include <Kokkos_Core.hpp>
#include <gtest/gtest.h>

#include <cstring>

int main(int argc, char* argv[]) {
  bool listing = false;  // scanned before InitGoogleTest strips the gtest flags from argv
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--gtest_list_tests") == 0) listing = true;
  ::testing::InitGoogleTest(&argc, argv);
  if (listing) return RUN_ALL_TESTS();
  Kokkos::initialize(argc, argv);
  int result = RUN_ALL_TESTS();
  Kokkos::finalize();
  return result;
}
