// SPDX-License-Identifier: BSD-3-Clause
/// \file DiffBio_TestViews.hpp
/// \brief Host vector ↔ device View helpers for tests (explicit mirrors, any value type).
#ifndef DIFFBIO_TEST_VIEWS_HPP
#define DIFFBIO_TEST_VIEWS_HPP

#include <Kokkos_Core.hpp>

#include <vector>

namespace diffbio {
namespace test {

/// Like to_view, but allocated and filled on \p Exec: a Serial test never starts an OpenMP
/// region (whose spinning workers slow single-threaded tests down on a busy machine).
template <class View, class Exec, class T>
View exec_view(const Exec& exec, const std::vector<T>& host, std::size_t n0, std::size_t n1 = 0) {
  using V = typename View::non_const_value_type;
  View v;
  if constexpr (View::rank == 1) {
    v = View(Kokkos::view_alloc(Kokkos::WithoutInitializing, "DiffBio::test::view", exec), n0);
  } else {
    v = View(Kokkos::view_alloc(Kokkos::WithoutInitializing, "DiffBio::test::view", exec), n0, n1);
  }
  auto h = Kokkos::create_mirror_view(Kokkos::HostSpace(), v);
  for (std::size_t i = 0; i < host.size(); ++i) {  // row-major host data, any View layout
    if constexpr (View::rank == 1) {
      h(i) = static_cast<V>(host[i]);
    } else {
      h(i / n1, i % n1) = static_cast<V>(host[i]);
    }
  }
  Kokkos::deep_copy(exec, v, h);
  exec.fence();
  return v;
}

/// Copies a flat host vector (row-major) into a new View of the given shape.
template <class View, class T>
View to_view(const std::vector<T>& host, std::size_t n0, std::size_t n1 = 0, std::size_t n2 = 0) {
  using V = typename View::value_type;
  std::size_t k = 0;
  if constexpr (View::rank == 1) {
    View v("DiffBio::test::view", n0);
    auto h = Kokkos::create_mirror_view(Kokkos::HostSpace(), v);
    for (std::size_t i = 0; i < n0; ++i) h(i) = static_cast<V>(host[k++]);
    Kokkos::deep_copy(v, h);
    return v;
  } else if constexpr (View::rank == 2) {
    View v("DiffBio::test::view", n0, n1);
    auto h = Kokkos::create_mirror_view(Kokkos::HostSpace(), v);
    for (std::size_t i = 0; i < n0; ++i)
      for (std::size_t j = 0; j < n1; ++j) h(i, j) = static_cast<V>(host[k++]);
    Kokkos::deep_copy(v, h);
    return v;
  } else {
    static_assert(View::rank == 3, "ranks 1-3 only");
    View v("DiffBio::test::view", n0, n1, n2);
    auto h = Kokkos::create_mirror_view(Kokkos::HostSpace(), v);
    for (std::size_t i = 0; i < n0; ++i)
      for (std::size_t j = 0; j < n1; ++j)
        for (std::size_t l = 0; l < n2; ++l) h(i, j, l) = static_cast<V>(host[k++]);
    Kokkos::deep_copy(v, h);
    return v;
  }
}

/// Flattens a View (rank 1–3, row-major) into host doubles through `conv(value)`.
template <class View, class Conv>
std::vector<double> flatten(const View& v, Conv conv) {
  auto h = Kokkos::create_mirror_view_and_copy(Kokkos::HostSpace(), v);
  std::vector<double> out;
  const std::size_t n0 = h.extent(0), n1 = View::rank > 1 ? h.extent(1) : 1,
                    n2 = View::rank > 2 ? h.extent(2) : 1;
  for (std::size_t i = 0; i < n0; ++i)
    for (std::size_t j = 0; j < n1; ++j)
      for (std::size_t l = 0; l < n2; ++l) out.push_back(conv(h.access(i, j, l)));
  return out;
}
template <class View>
std::vector<double> flatten(const View& v) {
  return flatten(v, [](const typename View::non_const_value_type& e) { return static_cast<double>(e); });
}

}  // namespace test
}  // namespace diffbio

#endif
