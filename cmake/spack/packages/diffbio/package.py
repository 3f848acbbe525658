# SPDX-License-Identifier: BSD-3-Clause
"""Spack recipe for DiffBio.

Use it from a repository checkout with

    spack repo add <diffbio>/cmake/spack      # this directory holds packages/diffbio/package.py
    spack install diffbio@main

or together with the top-level spack.yaml environment (`spack develop diffbio@main`).

The recipe never configures Kokkos itself. DiffBio's CMake builds against whichever Kokkos it is
given, so the backend and GPU architecture are a property of the one Kokkos in the environment and
flow down: the variants below only *require* a matching Kokkos, they do not build a second one.
"""

from spack.package import *


class Diffbio(CMakePackage, CudaPackage, ROCmPackage):
    """DiffBio: differentiable bioinformatics operators on Kokkos."""

    homepage = "https://github.com/diffbio/diffbio"
    git = "https://github.com/diffbio/diffbio.git"

    license("BSD-3-Clause")

    version("main", branch="main")

    variant("mpi", default=True, description="Distributed training and I/O with MPI")
    variant("hdf5", default=True, description="HDF5 checkpoints and feature matrices")
    variant("openmp", default=True, description="Require a Kokkos with the OpenMP backend")
    variant("tests", default=False, description="Build the GoogleTest suite")
    variant("apps", default=True, description="Build the diffbio command-line executable")

    depends_on("cxx", type="build")
    # HDF5's CMake module compiles a C probe.
    depends_on("c", type="build", when="+hdf5")
    depends_on("cmake@3.21:", type="build")

    # ---- Kokkos: one spec for the whole environment, flowing down into DiffBio ----
    depends_on("kokkos@4.5:")
    depends_on("kokkos+openmp", when="+openmp")
    depends_on("kokkos+cuda+wrapper", when="+cuda")
    depends_on("kokkos+rocm", when="+rocm")
    # A GPU build of DiffBio is only as good as the Kokkos it compiles against: the architecture the
    # user asks of DiffBio must be the one Kokkos was built for (otherwise Kokkos' arch flags and
    # ours would disagree at link time). Propagate each value rather than re-deciding it here.
    for _arch in CudaPackage.cuda_arch_values:
        depends_on(f"kokkos cuda_arch={_arch}", when=f"+cuda cuda_arch={_arch}")
    for _target in ROCmPackage.amdgpu_targets:
        depends_on(f"kokkos amdgpu_target={_target}", when=f"+rocm amdgpu_target={_target}")
    # Host-only DiffBio must not silently pick up a GPU Kokkos (its Views would default to device
    # memory that our host I/O cannot touch).
    conflicts("^kokkos+cuda", when="~cuda")
    conflicts("^kokkos+rocm", when="~rocm")

    # Kokkos Kernels is used header-only; its recipe pins it to the same Kokkos version.
    depends_on("kokkos-kernels")

    # ---- optional dependencies, mirrored by DiffBio_REQUIRE_<X> in CMake ----
    depends_on("mpi", when="+mpi")
    depends_on("hdf5+mpi", when="+hdf5+mpi")
    depends_on("hdf5~mpi", when="+hdf5~mpi")

    # ---- always-needed libraries ----
    depends_on("random123")
    depends_on("htslib")
    depends_on("cli11")
    depends_on("tomlplusplus")

    # ---- test-only ----
    depends_on("googletest", when="+tests")
    # ADOL-C is the reference automatic differentiation the gradient tests compare against.
    depends_on("adol-c", when="+tests")

    def cmake_args(self):
        spec = self.spec
        args = [
            self.define_from_variant("DiffBio_ENABLE_TESTS", "tests"),
            self.define_from_variant("DiffBio_ENABLE_APPS", "apps"),
            # Benchmarks need OpenBLAS and Google Benchmark: not part of an installed package.
            self.define("DiffBio_ENABLE_PERF", False),
            # When a variant is on, a missing package is a configure error rather than a silently
            # smaller build; when it is off, CMake must not find one lying around in the view.
            self.define_from_variant("DiffBio_REQUIRE_MPI", "mpi"),
            self.define_from_variant("DiffBio_REQUIRE_HDF5", "hdf5"),
            self.define("CMAKE_DISABLE_FIND_PACKAGE_MPI", spec.satisfies("~mpi")),
            self.define("CMAKE_DISABLE_FIND_PACKAGE_HDF5", spec.satisfies("~hdf5")),
            self.define("Kokkos_ROOT", spec["kokkos"].prefix),
            self.define("KokkosKernels_ROOT", spec["kokkos-kernels"].prefix),
        ]
        if spec.satisfies("+cuda"):
            # Kokkos' CUDA build compiles all C++ through nvcc_wrapper (or clang); use the very
            # compiler Kokkos was configured with.
            args.append(self.define("CMAKE_CXX_COMPILER", spec["kokkos"].kokkos_cxx))
        elif spec.satisfies("+rocm"):
            args.append(self.define("CMAKE_CXX_COMPILER", spec["hip"].hipcc))
        return args
