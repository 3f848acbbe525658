// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_AdolcOracle.hpp
/// \brief Independent gradient oracle: ADOL-C differentiates a plain serial reference forward.
///
/// The reference is a generic callable `ref(const std::vector<N>& x) -> std::vector<N>` written
/// once, templated on the number type N (double or adouble), with no Kokkos and no code shared
/// with the operator. ADOL-C tapes it and returns ȳᵀJ by reverse mode (vec_jac), which the test
/// compares with our hand-derived adjoint to ~1e-10: both are exact derivatives, they may differ
/// only by rounding.
#ifndef DIFFBIO_ADOLC_ORACLE_HPP
#define DIFFBIO_ADOLC_ORACLE_HPP

#include <adolc/adolc.h>

#include <vector>

namespace diffbio {
namespace test {

struct OracleResult {
  std::vector<double> y;     ///< the reference forward values
  std::vector<double> xbar;  ///< ȳᵀJ by ADOL-C reverse mode
};

template <class Reference>
OracleResult adolc_vjp(const Reference& ref, const std::vector<double>& x,
                       const std::vector<double>& ybar, short tag = 1) {
  const int n = static_cast<int>(x.size());
  OracleResult out;
  trace_on(tag);
  std::vector<adouble> ax(x.size());
  for (int i = 0; i < n; ++i) ax[i] <<= x[i];
  std::vector<adouble> ay = ref(ax);
  out.y.resize(ay.size());
  for (std::size_t j = 0; j < ay.size(); ++j) ay[j] >>= out.y[j];
  trace_off();
  const int m = static_cast<int>(ay.size());
  std::vector<double> xv(x), u(ybar);
  out.xbar.assign(x.size(), 0.0);
  vec_jac(tag, m, n, 0, xv.data(), u.data(), out.xbar.data());
  return out;
}

}  // namespace test
}  // namespace diffbio

#endif
