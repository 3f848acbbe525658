// SPDX-License-Identifier: BSD-3-Clause
// Hygiene: every kernel and allocation DiffBio makes is labelled "DiffBio::..." (ArborX's rule),
// checked through Kokkos-Tools callbacks while operators, losses and an optimiser step run.
#include <DiffBio_Loss.hpp>
#include <DiffBio_Optimizer.hpp>
#include <DiffBio_ReadOperatorCases.hpp>
#include <DiffBio_TestBackend.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace diffbio;
using namespace diffbio::test;

namespace {
std::vector<std::string>& seen() {
  static std::vector<std::string> names;
  return names;
}
void on_kernel(const char* name, const std::uint32_t, std::uint64_t*) { seen().emplace_back(name); }
void on_alloc(const Kokkos::Profiling::SpaceHandle, const char* name, const void*, const std::uint64_t) {
  seen().emplace_back(name);
}
bool is_ours(const std::string& n) {
  if (n.rfind("DiffBio::", 0) == 0) return true;
  // Kokkos' own helper kernels (View initialisation, fills, copies) carry the View's label in
  // brackets, and its raw scratch allocations (e.g. OpenMP reduction buffers, made through
  // HostSpace::allocate(size)) are "[unlabeled]": they are not DiffBio's to name. DiffBio never
  // allocates through a memory space directly, only through labelled Views.
  return n.rfind("Kokkos::", 0) == 0 || n.empty() || n == "[unlabeled]";
}
}  // namespace

TEST(Hygiene, EveryKernelAndAllocationIsLabelledDiffBio) {
  namespace KT = Kokkos::Tools::Experimental;
  seen().clear();
  KT::set_begin_parallel_for_callback(on_kernel);
  KT::set_begin_parallel_reduce_callback(on_kernel);
  KT::set_allocate_data_callback(on_alloc);

  QualityFilterCase<TEST_EXECSPACE> qf(ReadCaseData(3), false);
  const Vec x = qf.point(1);
  qf.adjoint(x, qf.forward(x));
  PoolingCase<TEST_EXECSPACE> pool{ReadCaseData(4)};
  pool.adjoint(pool.point(2), pool.forward(pool.point(2)));
  LinearHeadCase<TEST_EXECSPACE> head;
  head.adjoint(head.point(3), head.forward(head.point(3)));
  {
    ParameterLayout layout;
    layout.add("q/x", 4);
    ParameterSet<double, TEST_MEMSPACE> ps(layout, "hygiene");
    Optimizer<double, TEST_EXECSPACE> opt(OptimizerConfig{}, ps.size());
    opt.step(TEST_EXECSPACE(), ps);
    Kokkos::View<double*, TEST_MEMSPACE> z("DiffBio::test::z", 3), t("DiffBio::test::t", 3),
        dz("DiffBio::test::dz", 3);
    binary_cross_entropy_with_logits(TEST_EXECSPACE(), z, t, dz, 1.0, {});
  }
  KT::set_begin_parallel_for_callback(nullptr);
  KT::set_begin_parallel_reduce_callback(nullptr);
  KT::set_allocate_data_callback(nullptr);

  int ours = 0;
  for (const auto& n : seen()) {
    EXPECT_TRUE(is_ours(n)) << "label without the DiffBio:: prefix: '" << n << "'";
    ours += n.rfind("DiffBio::", 0) == 0;
  }
  EXPECT_GT(ours, 10);  // the callbacks really fired
}
