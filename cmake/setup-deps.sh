#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# DiffBio dependency set-up for Debian 12 (bookworm).
#
# 1. Installs the Debian packages the library, apps and tests need (apt, only what is missing).
# 2. Unless a Kokkos is already findable by CMake (Spack, modules, Kokkos_ROOT), builds Kokkos 3.4.1
#    (OpenMP + Serial) and Kokkos Kernels from Debian's own `trilinos` source package into a cached
#    prefix. The deb-src entry is derived from the system's apt sources file at run time: no registry
#    host is written anywhere by this script other than what the system already lists.
#
# Prints the prefix list to use as CMAKE_PREFIX_PATH on its last line ("DIFFBIO_DEPS_PREFIX=...").
#   DIFFBIO_SKIP_HMMER_LIB=1  do not build HMMER's library (its oracle tests then fail)
# Environment:
#   DIFFBIO_DEPS_PREFIX   cached install prefix (default: $XDG_CACHE_HOME/diffbio/deps-<hash of this script>)
#   DIFFBIO_SKIP_APT=1    do not call apt (e.g. on a cluster)
#   DIFFBIO_KK_ETI=ON     build Kokkos Kernels with its default ETI (13 min here); default OFF (see perf/)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
script_hash="$(sha1sum "${BASH_SOURCE[0]}" | cut -c1-10)"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/diffbio"
prefix="${DIFFBIO_DEPS_PREFIX:-$cache_root/deps-$script_hash}"
jobs="$(nproc 2>/dev/null || echo 2)"
log() { printf '[diffbio-deps] %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_packages=(
  build-essential cmake ninja-build pkg-config dpkg-dev autoconf automake patch
  openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools
  libhts-dev libgtest-dev libgmock-dev libbenchmark-dev libopenblas-dev
  libadolc-dev libcli11-dev libtomlplusplus-dev librandom123-dev
  seqtk hmmer hmmer-examples libparasail-dev  # classic-tool peers called by the tests
  samtools bcftools bwa tabix bowtie2-examples  # pileup test data generator and peers
  python3-sklearn python3-anndata python3-h5py python3-numpy python3-scipy  # single-cell peers
)

install_apt() {
  [ "${DIFFBIO_SKIP_APT:-0}" = 1 ] && return 0
  command -v dpkg-query >/dev/null || { log "not a Debian system: install the packages yourself"; return 0; }
  local missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

kokkos_findable() {
  # A CMake probe, exactly the check our own CMakeLists makes.
  local d; d="$(mktemp -d)"
  printf 'cmake_minimum_required(VERSION 3.16)\nproject(p CXX)\nfind_package(Kokkos REQUIRED CONFIG)\nfind_package(KokkosKernels REQUIRED CONFIG)\n' >"$d/CMakeLists.txt"
  local ok=1
  cmake -S "$d" -B "$d/b" ${1:+-DCMAKE_PREFIX_PATH="$1"} >/dev/null 2>&1 || ok=0
  rm -rf "$d"
  [ $ok = 1 ]
}

# Adds a deb-src twin of every `deb` entry of the system's own sources (deb822 and one-line formats).
enable_deb_src() {
  if apt-cache showsrc trilinos >/dev/null 2>&1 && [ -n "$(apt-cache showsrc trilinos 2>/dev/null)" ]; then return 0; fi
  local out=/etc/apt/sources.list.d/diffbio-deb-src.sources
  local tmp; tmp="$(mktemp)"
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && [ "$f" != "$out" ] || continue
    case "$f" in *.disabled*) continue ;; esac
    # deb822: keep stanzas whose Types include deb, rewrite Types to deb-src.
    # (portable awk: Debian's default awk is mawk, without \< \> word anchors)
    awk 'BEGIN { RS = ""; ORS = "\n\n" }
         { n = split($0, line, "\n"); keep = 0; out = ""
           for (i = 1; i <= n; i++) {
             if (line[i] ~ /^Types:/) { if ((" " line[i] " ") ~ / deb /) keep = 1; line[i] = "Types: deb-src" }
             out = out line[i] (i < n ? "\n" : "")
           }
           if (keep) print out }' "$f" >>"$tmp"
  done
  if [ -f /etc/apt/sources.list ]; then
    grep -E '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list | sed -E 's/^[[:space:]]*deb[[:space:]]/deb-src /' |
      awk '{print}' >"$tmp.list" || true
  fi
  if [ -s "$tmp.list" ] 2>/dev/null; then as_root cp "$tmp.list" /etc/apt/sources.list.d/diffbio-deb-src.list; fi
  if [ -s "$tmp" ]; then as_root cp "$tmp" "$out"; fi
  rm -f "$tmp" "$tmp.list"
  as_root apt-get update -qq
}

build_kokkos_from_trilinos() {
  local work="$cache_root/src"
  mkdir -p "$work"
  local t0=$SECONDS
  if ! ls "$work"/trilinos_*.orig.tar.* >/dev/null 2>&1; then
    enable_deb_src
    log "downloading Debian source package trilinos (apt-get source --download-only)"
    (cd "$work" && apt-get source --download-only -qq trilinos >/dev/null)
  fi
  local orig; orig="$(ls "$work"/trilinos_*.orig.tar.* | head -n1)"
  local srcdir="$work/trilinos-kokkos"
  if [ ! -d "$srcdir/packages/kokkos-kernels" ]; then
    log "extracting packages/kokkos and packages/kokkos-kernels from $(basename "$orig")"
    rm -rf "$srcdir"; mkdir -p "$srcdir"
    tar -xf "$orig" -C "$srcdir" --strip-components=1 --wildcards '*/packages/kokkos/*' '*/packages/kokkos-kernels/*'
  fi
  log "source ready after $((SECONDS - t0)) s"

  local t1=$SECONDS
  cmake -S "$srcdir/packages/kokkos" -B "$work/build-kokkos-$script_hash" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DCMAKE_CXX_STANDARD=17 -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DKokkos_ENABLE_SERIAL=ON -DKokkos_ENABLE_OPENMP=ON \
    -DKokkos_ENABLE_TESTS=OFF -DKokkos_ENABLE_EXAMPLES=OFF >"$work/kokkos-configure.log" 2>&1
  cmake --build "$work/build-kokkos-$script_hash" -j "$jobs" >"$work/kokkos-build.log" 2>&1
  cmake --install "$work/build-kokkos-$script_hash" >/dev/null
  log "Kokkos built and installed in $((SECONDS - t1)) s"

  local t2=$SECONDS
  local eti="${DIFFBIO_KK_ETI:-OFF}"
  local eti_args=()
  if [ "$eti" = OFF ]; then
    # Chosen by measurement (perf/diffbio_perf_gemm, table in perf/README.md): ETI only
    # pre-instantiates the same gemm bodies our translation units instantiate anyway (same run
    # time, 13 min of build), while the BLAS TPL forwards host float/double gemm to OpenBLAS,
    # 5-10x faster than the native kernel on our layer shapes. So: ETI off, BLAS TPL on.
    eti_args=(-DKokkosKernels_INST_DOUBLE=OFF -DKokkosKernels_INST_FLOAT=OFF
              -DKokkosKernels_INST_COMPLEX_DOUBLE=OFF -DKokkosKernels_INST_COMPLEX_FLOAT=OFF
              -DKokkosKernels_INST_ORDINAL_INT=OFF -DKokkosKernels_INST_ORDINAL_INT64_T=OFF
              -DKokkosKernels_INST_OFFSET_INT=OFF -DKokkosKernels_INST_OFFSET_SIZE_T=OFF
              -DKokkosKernels_INST_LAYOUTLEFT=OFF -DKokkosKernels_INST_LAYOUTRIGHT=OFF
              -DKokkosKernels_INST_EXECSPACE_OPENMP=OFF -DKokkosKernels_INST_EXECSPACE_SERIAL=OFF
              -DKokkosKernels_INST_MEMSPACE_HOSTSPACE=OFF)
  fi
  cmake -S "$srcdir/packages/kokkos-kernels" -B "$work/build-kk-$script_hash" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_CXX_STANDARD=17 -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DKokkosKernels_ENABLE_TESTS=OFF -DKokkosKernels_ENABLE_EXAMPLES=OFF \
    -DKokkosKernels_ENABLE_TPL_BLAS=ON "${eti_args[@]}" >"$work/kk-configure.log" 2>&1
  cmake --build "$work/build-kk-$script_hash" -j "$jobs" >"$work/kk-build.log" 2>&1
  cmake --install "$work/build-kk-$script_hash" >/dev/null
  log "Kokkos Kernels (ETI=$eti) built and installed in $((SECONDS - t2)) s"
  touch "$prefix/.diffbio-complete"
}

# HMMER's own library (libhmmer.a, libeasel.a) from Debian's hmmer source package: the tests use it
# as an unrounded oracle (p7_GViterbi has no command-line equivalent). Tests only; ~1 min once.
build_hmmer_library() {
  local hprefix="$1"
  [ -f "$hprefix/lib/libhmmer.a" ] && [ -f "$hprefix/include/hmmer/p7_config.h" ] && return 0
  local work="$cache_root/src"
  mkdir -p "$work"
  if ! ls "$work"/hmmer_*.orig.tar.* >/dev/null 2>&1; then
    enable_deb_src
    log "downloading Debian source package hmmer (apt-get source --download-only)"
    (cd "$work" && apt-get source --download-only -qq hmmer >/dev/null)
  fi
  local src="$work/hmmer-lib"
  rm -rf "$src" && mkdir -p "$src"
  tar -xf "$(ls "$work"/hmmer_*.orig.tar.* | head -n1)" -C "$src" --strip-components=1
  tar -xf "$(ls "$work"/hmmer_*.debian.tar.* | head -n1)" -C "$src"
  # Debian's patches adapt the +dfsg tarball's build (no bundled libdivsufsort / configure).
  while read -r p; do
    [ -n "$p" ] && patch -d "$src" -p1 -s <"$src/debian/patches/$p"
  done <"$src/debian/patches/series"
  (cd "$src" && AUTOHEADER=true autoreconf -fi >/dev/null 2>&1 &&
    ./configure --enable-sse >"$work/hmmer-configure.log" 2>&1 &&
    make -C easel -j "$jobs" libeasel.a >"$work/hmmer-build.log" 2>&1 &&
    make -C src -j "$jobs" libhmmer.a >>"$work/hmmer-build.log" 2>&1) ||
    { log "error: building HMMER's library failed (see $work/hmmer-build.log)"; exit 3; }
  install -d "$hprefix/lib" "$hprefix/include/hmmer/impl_sse"
  cp "$src/easel/libeasel.a" "$src/src/libhmmer.a" "$hprefix/lib/"
  cp "$src"/easel/*.h "$src"/src/*.h "$hprefix/include/hmmer/"
  cp "$src"/src/impl_sse/*.h "$hprefix/include/hmmer/impl_sse/"
  log "HMMER library installed in $hprefix"
}

main() {
  install_apt
  local hprefix="$cache_root/hmmer-lib-$script_hash"
  if [ "${DIFFBIO_SKIP_HMMER_LIB:-0}" != 1 ]; then build_hmmer_library "$hprefix"; else hprefix=""; fi
  if [ -z "${DIFFBIO_DEPS_PREFIX:-}" ] && kokkos_findable ""; then
    log "Kokkos and Kokkos Kernels already findable by CMake: nothing to build"
    echo "DIFFBIO_DEPS_PREFIX=$hprefix"
    return 0
  fi
  if [ -f "$prefix/.diffbio-complete" ] && kokkos_findable "$prefix"; then
    log "using cached prefix $prefix"
  else
    build_kokkos_from_trilinos
    kokkos_findable "$prefix" || { log "error: Kokkos built but CMake cannot find it in $prefix"; exit 3; }
  fi
  # A CMake list: the Kokkos prefix and the HMMER-library prefix.
  echo "DIFFBIO_DEPS_PREFIX=$prefix${hprefix:+;$hprefix}"
}
main "$@"
