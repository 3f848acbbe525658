// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_SparsePCAFit.hpp
/// \brief DifferentiablePCA::fit(): randomized subspace iteration on the implicitly centred sparse
/// matrix (see DiffBio_SparsePCA.hpp for the method). Included by DiffBio_SparsePCA.hpp.
#ifndef DIFFBIO_SPARSE_PCA_FIT_HPP
#define DIFFBIO_SPARSE_PCA_FIT_HPP

#include <DiffBio_SparsePCA.hpp>

namespace diffbio {

template <class Scalar, class ExecSpace>
PcaFit DifferentiablePCA<Scalar, ExecSpace>::fit(const ExecSpace& exec, const Inputs& in,
                                                 Workspace& ws) const {
  static_assert(std::is_floating_point<Scalar>::value,
                "SparsePCA::fit: float or double values (fit in double, then convert parameters)");
  check_inputs(in);
  const int G = n_genes(), K = n_components();
  const std::int64_t N = static_cast<std::int64_t>(n_rows(in));
  DIFFBIO_EXPECTS(N >= 2 && K <= N, "SparsePCA::fit: need at least max(2, n_components) rows");
  const int L = std::min(G, K + cfg_.n_oversamples);
  const bool chunks = use_row_chunks();
  if (!chunks) prepare(in, ws);
  using mem = memory_space;
  using DMat = Kokkos::View<double**, Kokkos::LayoutRight, mem>;
  using DVec = Kokkos::View<double*, mem>;
  const auto alloc = [](const char* what) {
    return Kokkos::view_alloc(Kokkos::WithoutInitializing, label(what));
  };

  // 1. Column means and the total variance (two passes per column over the column index; the
  //    N − nnz_j implicit zeros each contribute μ_j²).
  DVec mean(alloc("SparsePCA::fit_mean"), G), var(alloc("SparsePCA::fit_var"), G);
  const double n = static_cast<double>(N);
  if (chunks) {
    auto rm = in.row_map;
    auto ent = in.entries;
    auto x = in.values;
    DVec count(alloc("SparsePCA::fit_count"), G);
    pca_impl::column_reduce(exec, "SparsePCA::fit_sums", rm, ent, x, mean,
                            KOKKOS_LAMBDA(const double v, const int) { return v; });
    pca_impl::column_reduce(exec, "SparsePCA::fit_counts", rm, ent, x, count,
                            KOKKOS_LAMBDA(const double, const int) { return 1.0; });
    Kokkos::parallel_for(
        label("SparsePCA::fit_mean"), Kokkos::RangePolicy<ExecSpace>(exec, 0, G),
        KOKKOS_LAMBDA(const int j) { mean(j) /= n; });
    pca_impl::column_reduce(exec, "SparsePCA::fit_squares", rm, ent, x, var,
                            KOKKOS_LAMBDA(const double v, const int j) {
                              const double d = v - mean(j);
                              return d * d;
                            });
    Kokkos::parallel_for(
        label("SparsePCA::fit_var"), Kokkos::RangePolicy<ExecSpace>(exec, 0, G),
        KOKKOS_LAMBDA(const int j) {
          var(j) = (var(j) + (n - count(j)) * mean(j) * mean(j)) / (n - 1);
        });
  } else {
    auto cm = ws.transpose.col_map;
    auto perm = ws.transpose.perm;
    auto x = in.values;
    Kokkos::parallel_for(
        label("SparsePCA::fit_moments"), Kokkos::RangePolicy<ExecSpace>(exec, 0, G),
        KOKKOS_LAMBDA(const int j) {
          double s = 0;
          for (std::int64_t e = cm(j); e < cm(j + 1); ++e) s += static_cast<double>(x(perm(e)));
          const double m = s / n;
          double ss = 0;
          for (std::int64_t e = cm(j); e < cm(j + 1); ++e) {
            const double d = static_cast<double>(x(perm(e))) - m;
            ss += d * d;
          }
          ss += static_cast<double>(N - (cm(j + 1) - cm(j))) * m * m;
          mean(j) = m;
          var(j) = ss / (n - 1);
        });
  }
  auto h_mean = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), mean);
  auto h_var = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), var);
  PcaFit f;
  f.n_components = K;
  f.n_genes = G;
  f.n_samples = N;
  f.n_power_iter = cfg_.n_power_iter;
  f.mean.assign(h_mean.data(), h_mean.data() + G);
  for (int j = 0; j < G; ++j) f.total_variance += h_var(j);

  // 2. Random start Ω [G×L] (stream = gene, counter = column), orthonormalised.
  const CounterRng rng(cfg_.seed, 0x5ca1ab1eULL);
  std::vector<double> Q(static_cast<std::size_t>(G) * L);
  for (int j = 0; j < G; ++j) {
    const CounterRng row(cfg_.seed, static_cast<std::uint64_t>(j));
    for (int k = 0; k < L; ++k) Q[static_cast<std::size_t>(j) * L + k] = row.normal(static_cast<std::uint64_t>(k));
  }
  std::uint64_t fresh = 0;  // counters of replacement directions (rank-deficient X)
  const auto orthonormalize = [&](std::vector<double>& a, int cols) {
    fresh += static_cast<std::uint64_t>(G) * 4u * static_cast<std::uint64_t>(cols);
    pca_impl::orthonormalize_columns(a, G, cols, rng, fresh);
  };
  orthonormalize(Q, L);

  DMat Qd(alloc("SparsePCA::fit_Q"), G, L), B(alloc("SparsePCA::fit_B"), N, L),
      C(alloc("SparsePCA::fit_C"), G, L);
  DVec shift(alloc("SparsePCA::fit_shift"), L), bsum(alloc("SparsePCA::fit_bsum"), L);
  auto hQ = Kokkos::create_mirror_view(Kokkos::HostSpace(), Qd);
  auto hC = Kokkos::create_mirror_view(Kokkos::HostSpace(), C);
  auto hshift = Kokkos::create_mirror_view(Kokkos::HostSpace(), shift);
  const Kokkos::View<const std::uint8_t*, mem> no_mask;
  const DVec no_vec;
  // C = (X − 1μᵀ)ᵀ (X − 1μᵀ) Q, through B = (X − 1μᵀ) Q [N×L].
  const auto apply_gram = [&](const std::vector<double>& q) {
    for (std::size_t e = 0; e < q.size(); ++e) hQ.data()[e] = q[e];
    for (int k = 0; k < L; ++k) {
      double s = 0;
      for (int j = 0; j < G; ++j) s += h_mean(j) * q[static_cast<std::size_t>(j) * L + k];
      hshift(k) = s;
    }
    Kokkos::deep_copy(exec, Qd, hQ);
    Kokkos::deep_copy(exec, shift, hshift);
    pca_impl::centred_spmm<double>(exec, "SparsePCA::fit_XQ", in.row_map, in.entries, in.values,
                                   no_mask, Qd, shift, B);
    pca_impl::column_sums(exec, "SparsePCA::fit_colsum", B, no_mask, bsum);
    if (chunks)
      pca_impl::scatter_spmm_t<double>(exec, "SparsePCA::fit_XtB", in.row_map, in.entries,
                                       in.values, no_mask, B, mean, bsum, C, 0.0, no_vec);
    else
      pca_impl::centred_spmm_t<double>(exec, "SparsePCA::fit_XtB", ws.transpose, in.values,
                                       no_mask, B, mean, bsum, C, 0.0, no_vec);
    Kokkos::deep_copy(exec, hC, C);
    exec.fence();
  };

  // 3. Subspace iteration.
  for (int it = 0; it < cfg_.n_power_iter; ++it) {
    apply_gram(Q);
    Q.assign(hC.data(), hC.data() + Q.size());
    orthonormalize(Q, L);
  }
  // 4. Rayleigh–Ritz: H = Qᵀ Xcᵀ Xc Q = Zᵀ Λ Z, V = Q Z.
  apply_gram(Q);
  std::vector<double> H(static_cast<std::size_t>(L) * L, 0.0);
  for (int j = 0; j < G; ++j)  // row by row: contiguous in both factors
    for (int a = 0; a < L; ++a) {
      const double qa = Q[static_cast<std::size_t>(j) * L + a];
      for (int b = 0; b < L; ++b) H[static_cast<std::size_t>(a) * L + b] += qa * hC(j, b);
    }
  for (int a = 0; a < L; ++a)
    for (int b = 0; b < a; ++b) {
      const double s = 0.5 * (H[static_cast<std::size_t>(a) * L + b] + H[static_cast<std::size_t>(b) * L + a]);
      H[static_cast<std::size_t>(a) * L + b] = H[static_cast<std::size_t>(b) * L + a] = s;
    }
  std::vector<double> lambda, Z;
  pca_impl::symmetric_eigen(H, L, lambda, Z);
  std::vector<double> V(static_cast<std::size_t>(G) * K, 0.0);
  for (int j = 0; j < G; ++j)
    for (int k = 0; k < K; ++k) {
      double s = 0;
      for (int a = 0; a < L; ++a)
        s += Q[static_cast<std::size_t>(j) * L + a] * Z[static_cast<std::size_t>(a) * L + k];
      V[static_cast<std::size_t>(j) * K + k] = s;
    }

  // 5. svd_flip (u-based): u_k ∝ (X − 1μᵀ) v_k; the first row of largest |u_ik| decides.
  {
    DMat Vd(alloc("SparsePCA::fit_V"), G, K);
    auto hV = Kokkos::create_mirror_view(Kokkos::HostSpace(), Vd);
    for (std::size_t e = 0; e < V.size(); ++e) hV.data()[e] = V[e];
    DVec vshift(alloc("SparsePCA::fit_vshift"), K);
    auto hvs = Kokkos::create_mirror_view(Kokkos::HostSpace(), vshift);
    for (int k = 0; k < K; ++k) {
      double s = 0;
      for (int j = 0; j < G; ++j) s += h_mean(j) * V[static_cast<std::size_t>(j) * K + k];
      hvs(k) = s;
    }
    Kokkos::deep_copy(exec, Vd, hV);
    Kokkos::deep_copy(exec, vshift, hvs);
    auto U = Kokkos::subview(B, Kokkos::ALL, Kokkos::make_pair(0, K));
    pca_impl::centred_spmm<double>(exec, "SparsePCA::fit_U", in.row_map, in.entries, in.values,
                                   no_mask, Vd, vshift, U);
    DVec sign(alloc("SparsePCA::fit_sign"), K);
    const int n = static_cast<int>(N);
    Kokkos::parallel_for(
        label("SparsePCA::fit_sign"), Kokkos::RangePolicy<ExecSpace>(exec, 0, K),
        KOKKOS_LAMBDA(const int k) {
          double best = -1, val = 0;
          for (int i = 0; i < n; ++i) {
            const double u = U(i, k);
            const double a = u < 0 ? -u : u;
            if (a > best) {  // strict: the first maximum, as numpy's argmax
              best = a;
              val = u;
            }
          }
          sign(k) = val < 0 ? -1.0 : 1.0;
        });
    auto hs = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), sign);
    f.components.assign(static_cast<std::size_t>(K) * G, 0.0);
    for (int k = 0; k < K; ++k)
      for (int j = 0; j < G; ++j)
        f.components[static_cast<std::size_t>(k) * G + j] = hs(k) * V[static_cast<std::size_t>(j) * K + k];
  }
  for (int k = 0; k < K; ++k) {
    const double l = lambda[static_cast<std::size_t>(k)] > 0 ? lambda[static_cast<std::size_t>(k)] : 0.0;
    f.singular_values.push_back(std::sqrt(l));
    f.explained_variance.push_back(l / static_cast<double>(N - 1));
    f.explained_variance_ratio.push_back(f.total_variance > 0 ? l / static_cast<double>(N - 1) / f.total_variance
                                                              : 0.0);
  }
  return f;
}

}  // namespace diffbio

#endif
