# SPDX-License-Identifier: BSD-3-Clause
"""Classic peers of the normalisation/PCA tests and of perf/diffbio_perf_pca (Debian python3-numpy,
python3-scipy, python3-sklearn).

Called as `python3 pca_peer.py <command> <args...>`; exchanges plain text files. A CSR matrix file
is four lines: "N G nnz", indptr, indices, data (whitespace-separated, data as repr floats).

normalize: scanpy's normalize_total(target_sum) + log1p, in numpy exactly as scanpy 1.9 computes
    it on a csr_matrix (scanpy itself is not in Debian): counts = X.sum(1); counts /= target_sum;
    counts[counts == 0] = 1; X = X scaled row-wise by 1/counts; X.data = log1p(X.data).
    target_sum "median" is scanpy's target_sum=None (median of the non-zero library sizes).
pca: sklearn.decomposition.PCA(n_components=K, svd_solver='full') on the densified matrix.
perf: time/RSS of sklearn's TruncatedSVD(randomized) and of scanpy's centred sparse PCA method
    (scipy svds on an implicitly centred LinearOperator) on a random scipy.sparse matrix.
"""
import resource
import sys
import time

import numpy as np


def load_csr(path):
    import scipy.sparse as sp
    with open(path) as f:
        n, g, nnz = (int(v) for v in f.readline().split())
        indptr = np.array(f.readline().split(), dtype=np.int64)
        indices = np.array(f.readline().split(), dtype=np.int64) if nnz else np.zeros(0, np.int64)
        data = np.array(f.readline().split(), dtype=np.float64) if nnz else np.zeros(0)
    assert indptr.size == n + 1 and indices.size == nnz and data.size == nnz
    return sp.csr_matrix((data, indices, indptr), shape=(n, g))


def fmt(v):
    return " ".join(repr(float(x)) for x in np.ravel(v))


def cmd_normalize(in_path, target, out_path):
    X = load_csr(in_path)
    counts = np.asarray(X.sum(axis=1)).ravel()
    if target == "median":
        target_sum = np.median(counts[counts > 0])
    else:
        target_sum = float(target)
    counts = counts / target_sum
    counts[counts == 0] = 1  # scanpy: empty cells stay 0 instead of becoming NaN
    row = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    data = X.data * (1.0 / counts)[row]  # sparsefuncs.inplace_row_scale
    data = np.log1p(data)
    with open(out_path, "w") as f:
        f.write(repr(float(target_sum)) + "\n")
        f.write(fmt(data) + "\n")


def cmd_pca(in_path, k, out_path):
    from sklearn.decomposition import PCA
    X = load_csr(in_path).toarray()
    pca = PCA(n_components=int(k), svd_solver="full")
    Y = pca.fit_transform(X)
    with open(out_path, "w") as f:
        f.write(fmt(pca.mean_) + "\n")
        f.write(fmt(pca.components_) + "\n")
        f.write(fmt(pca.explained_variance_) + "\n")
        f.write(fmt(pca.explained_variance_ratio_) + "\n")
        f.write(fmt(pca.singular_values_) + "\n")
        f.write(fmt(Y) + "\n")


def peak_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cmd_perf(n, g, density, k, seed, out_path):
    """The same random matrix recipe as perf/diffbio_perf_pca.cpp is not needed: only sizes and
    density matter for time and memory. Counts → normalize_total + log1p first, as in the C++ run."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as sla
    from sklearn.decomposition import TruncatedSVD
    n, g, k, seed = int(n), int(g), int(k), int(seed)
    density = float(density)
    rng = np.random.default_rng(seed)
    # Bernoulli(density) positions in blocks of rows (scipy.sparse.random would permute all N·G
    # positions: GBs at this size), counts 1..19 as in the C++ program.
    blocks = []
    for r0 in range(0, n, 5000):
        r1 = min(n, r0 + 5000)
        rows, cols = np.nonzero(rng.random((r1 - r0, g), dtype=np.float32) < density)
        vals = rng.integers(1, 20, rows.size).astype(np.float32)
        blocks.append(sp.csr_matrix((vals, (rows, cols)), shape=(r1 - r0, g)))
    X = sp.vstack(blocks, format="csr")
    del blocks
    counts = np.asarray(X.sum(axis=1)).ravel()
    counts[counts == 0] = 1
    X = sp.diags((1e4 / counts).astype(np.float32)) @ X
    X.data = np.log1p(X.data)
    X = X.tocsr()
    rss0 = peak_rss_mib()
    t0 = time.perf_counter()
    tsvd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=7, random_state=0)
    tsvd.fit(X)
    t_tsvd = time.perf_counter() - t0
    rss1 = peak_rss_mib()
    # scanpy's sparse zero-centred PCA (scanpy.preprocessing._pca._pca_with_sparse): ARPACK on a
    # LinearOperator (X − 1μᵀ), never densified.
    t0 = time.perf_counter()
    mu = np.asarray(X.mean(axis=0)).ravel()
    ones = np.ones(n)
    XH = X.T.conj().tocsr()

    def mv(v):
        return X @ v - mu @ v

    def mm(V):
        return X @ V - (mu @ V)[None, :]

    def rmv(v):
        return XH @ v - mu * (ones @ v)

    def rmm(V):
        return XH @ V - np.outer(mu, ones @ V)

    op = sla.LinearOperator(matvec=mv, dtype=X.dtype, matmat=mm, shape=X.shape, rmatvec=rmv,
                            rmatmat=rmm)
    u, s, vt = sla.svds(op, solver="arpack", k=k, v0=np.random.default_rng(0).uniform(-1, 1, min(X.shape)))
    t_arpack = time.perf_counter() - t0
    rss2 = peak_rss_mib()
    with open(out_path, "w") as f:
        f.write(f"nnz {X.nnz}\n")
        f.write(f"truncated_svd_randomized_s {t_tsvd:.3f}\n")
        f.write(f"scanpy_arpack_centred_s {t_arpack:.3f}\n")
        f.write(f"peak_rss_MiB_after_data {rss0:.1f}\n")
        f.write(f"peak_rss_MiB_after_tsvd {rss1:.1f}\n")
        f.write(f"peak_rss_MiB_after_arpack {rss2:.1f}\n")
        f.write("top_singular_values " + fmt(np.sort(s)[::-1][:5]) + "\n")


def main(argv):
    cmds = {"normalize": cmd_normalize, "pca": cmd_pca, "perf": cmd_perf}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.stderr.write("usage: pca_peer.py {normalize|pca|perf} args...\n")
        return 2
    cmds[argv[1]](*argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
