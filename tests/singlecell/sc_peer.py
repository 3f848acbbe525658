# SPDX-License-Identifier: BSD-3-Clause
"""Classic peers of the single-cell tests (Debian python3-sklearn, python3-anndata, python3-h5py).

Called by tests/singlecell/*.cpp as `python3 sc_peer.py <command> <args...>`; exchanges plain
files: raw little-endian float64 matrices, whitespace-separated text. Only calls the peers —
no reimplementation of what is being tested.
"""
import sys
import warnings

import numpy as np


def load_matrix(path, n, d):
    return np.fromfile(path, dtype="<f8").reshape(n, d)


def load_triplets(path):
    import scipy.sparse as sp
    with open(path) as f:
        n, g, nnz = (int(v) for v in f.readline().split())
        rows, cols, vals = [], [], []
        for _ in range(nnz):
            r, c, v = f.readline().split()
            rows.append(int(r)); cols.append(int(c)); vals.append(float(v))
    return sp.csr_matrix((np.array(vals), (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64))),
                         shape=(n, g))


def fmt(v):
    return repr(float(v))


# ------------------------------------------------------------------ scikit-learn

def cmd_kmeans(x_path, n, d, init_path, k, max_iter, out_path):
    from sklearn.cluster import KMeans
    n, d, k, max_iter = int(n), int(d), int(k), int(max_iter)
    X = load_matrix(x_path, n, d)
    init = load_matrix(init_path, k, d)
    km = KMeans(n_clusters=k, init=init, n_init=1, algorithm="lloyd", tol=0.0, max_iter=max_iter)
    km.fit(X)
    with open(out_path, "w") as f:
        f.write(f"{km.n_iter_} {fmt(km.inertia_)}\n")
        f.write(" ".join(str(int(v)) for v in km.labels_) + "\n")
        f.write(" ".join(fmt(v) for v in km.cluster_centers_.ravel()) + "\n")


def cmd_metrics(a_path, b_path, x_path, n, d, out_path):
    from sklearn import metrics
    n, d = int(n), int(d)
    a = np.loadtxt(a_path, dtype=np.int64, ndmin=1)
    b = np.loadtxt(b_path, dtype=np.int64, ndmin=1)
    X = load_matrix(x_path, n, d)
    with open(out_path, "w") as f:
        f.write(fmt(metrics.adjusted_rand_score(a, b)) + "\n")
        f.write(fmt(metrics.normalized_mutual_info_score(a, b)) + "\n")
        f.write(fmt(metrics.mutual_info_score(a, b)) + "\n")
        f.write(fmt(metrics.silhouette_score(X, b)) + "\n")


def cmd_ari_nmi(pairs_path, out_path):
    """Each line of pairs_path: 'a-labels | b-labels'; one 'ari nmi' line out per input line."""
    from sklearn import metrics
    with open(pairs_path) as f, open(out_path, "w") as o:
        for line in f:
            left, right = line.split("|")
            a = np.array([int(v) for v in left.split()], dtype=np.int64)
            b = np.array([int(v) for v in right.split()], dtype=np.int64)
            o.write(fmt(metrics.adjusted_rand_score(a, b)) + " " +
                    fmt(metrics.normalized_mutual_info_score(a, b)) + "\n")


def cmd_knn(x_path, n, d, k, out_path):
    from sklearn.neighbors import NearestNeighbors
    n, d, k = int(n), int(d), int(k)
    X = load_matrix(x_path, n, d)
    nn = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(X)
    dist, idx = nn.kneighbors()  # no query: each point is excluded from its own neighbours
    with open(out_path, "w") as f:
        f.write(" ".join(str(int(v)) for v in idx.ravel()) + "\n")
        f.write(" ".join(fmt(v) for v in dist.ravel()) + "\n")


# ------------------------------------------------------------------ fixtures (h5py / anndata)

def obs_frame(n, row_sums):
    import pandas as pd
    codes = np.array([i % 3 for i in range(n)], dtype=np.int8)
    if n > 4:
        codes[4] = -1
    return pd.DataFrame({
        "cell_type": pd.Categorical.from_codes(codes, categories=["B", "NK", "T"]),
        "n_counts": np.asarray(row_sums, dtype=np.float64),
        "batch": np.array([i % 2 for i in range(n)], dtype=np.int64),
        "is_doublet": np.array([i % 5 == 0 for i in range(n)]),
        "note": np.array([f"cell{i}" for i in range(n)], dtype=object),
    }, index=[f"BC{i:04d}" for i in range(n)])


def var_frame(g):
    import pandas as pd
    return pd.DataFrame({
        "gene_ids": np.array([f"ENSG{j:05d}" for j in range(g)], dtype=object),
        "highly_variable": np.array([j % 2 == 0 for j in range(g)]),
    }, index=[f"gene{j}" for j in range(g)])


def pca(n):
    return np.array([[i * 0.5 + j * 0.25 - 3.0 for j in range(4)] for i in range(n)])


def cmd_write10x(triplets, out_path, version="v3"):
    import h5py
    m = load_triplets(triplets)
    m.sort_indices()
    n, g = m.shape
    with h5py.File(out_path, "w") as f:
        grp = f.create_group("matrix" if version == "v3" else "GRCh38")
        grp.create_dataset("data", data=m.data.astype(np.int32))
        grp.create_dataset("indices", data=m.indices.astype(np.int64))
        grp.create_dataset("indptr", data=m.indptr.astype(np.int64))
        grp.create_dataset("shape", data=np.array([g, n], dtype=np.int32))
        grp.create_dataset("barcodes", data=np.array([f"AAACCTG{i:04d}-1".encode() for i in range(n)]))
        ids = np.array([f"ENSG{j:05d}".encode() for j in range(g)])
        names = np.array([f"GENE{j}".encode() for j in range(g)])
        if version == "v3":
            feat = grp.create_group("features")
            feat.create_dataset("id", data=ids)
            feat.create_dataset("name", data=names)
            feat.create_dataset("feature_type", data=np.array(
                [(b"Gene Expression" if j < g - 2 else b"Antibody Capture") for j in range(g)]))
            feat.create_dataset("genome", data=np.array([b"GRCh38"] * g))
        else:
            grp.create_dataset("genes", data=ids)
            grp.create_dataset("gene_names", data=names)


def cmd_writeh5ad(triplets, out_path, variant="csr"):
    import anndata
    import scipy.sparse as sp
    m = load_triplets(triplets).astype(np.float32)
    n, g = m.shape
    X = {"csr": m, "csc": sp.csc_matrix(m), "dense": m.toarray()}[variant]
    import pandas as pd
    obs = obs_frame(n, np.asarray(m.sum(axis=1)).ravel())
    # Nullable columns (pandas extension arrays): anndata writes nullable-integer/-boolean groups.
    obs["n_genes"] = pd.array([None if i % 7 == 3 else i * 2 for i in range(n)], dtype="Int64")
    obs["passed_qc"] = pd.array([None if i % 11 == 2 else i % 2 == 0 for i in range(n)],
                                dtype="boolean")
    a = anndata.AnnData(X=X, obs=obs, var=var_frame(g))
    a.obsm["X_pca"] = pca(n)
    a.layers["counts"] = m.copy()
    a.uns["title"] = "diffbio test"
    a.uns["n_pcs"] = 4
    a.uns["tau"] = 0.5
    a.write_h5ad(out_path)


def cmd_checkh5ad(path, triplets, n_assign):
    """Opens a DiffBio-written .h5ad with anndata and checks every element the test wrote."""
    import anndata
    from anndata._warnings import OldFormatWarning
    k = int(n_assign)
    errors = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = anndata.read_h5ad(path)
    for w in caught:
        if issubclass(w.category, OldFormatWarning) or "encoding" in str(w.message):
            errors.append(f"anndata warning: {w.message}")
    m = load_triplets(triplets)
    n, g = m.shape
    if a.shape != (n, g):
        errors.append(f"shape {a.shape} != {(n, g)}")
    import scipy.sparse as sp
    if not sp.isspmatrix_csr(a.X):
        errors.append(f"X is {type(a.X)}, expected csr")
    elif a.X.dtype != np.float32:
        errors.append(f"X dtype {a.X.dtype}")
    elif abs(a.X - m).max() != 0:
        errors.append("X values differ")
    exp_obs = obs_frame(n, np.asarray(m.sum(axis=1)).ravel())
    if list(a.obs.index) != list(exp_obs.index):
        errors.append("obs index differs")
    if list(a.obs.columns) != list(exp_obs.columns):
        errors.append(f"obs columns {list(a.obs.columns)}")
    else:
        ct = a.obs["cell_type"]
        if str(ct.dtype) != "category" or list(ct.cat.categories) != ["B", "NK", "T"]:
            errors.append(f"cell_type not categorical B/NK/T: {ct.dtype}")
        elif not ct.equals(exp_obs["cell_type"]):
            errors.append("cell_type values differ")
        for col in ["n_counts", "batch", "is_doublet", "note"]:
            if not np.array_equal(a.obs[col].to_numpy(), exp_obs[col].to_numpy()):
                errors.append(f"obs column {col} differs")
        if a.obs["is_doublet"].dtype != bool:
            errors.append(f"is_doublet dtype {a.obs['is_doublet'].dtype}")
    exp_var = var_frame(g)
    if list(a.var.index) != list(exp_var.index) or not a.var.equals(exp_var):
        errors.append("var differs")
    if "X_pca" not in a.obsm or not np.array_equal(a.obsm["X_pca"], pca(n)):
        errors.append("obsm X_pca differs")
    P = a.obsm.get("soft_assign")
    if P is None or P.shape != (n, k) or P.dtype != np.float32:
        errors.append("obsm soft_assign missing or wrong shape/dtype")
    elif np.abs(P.sum(axis=1) - 1).max() > 1e-5:
        errors.append("soft_assign rows do not sum to 1")
    if "counts" not in a.layers or abs(a.layers["counts"] - m).max() != 0:
        errors.append("layer counts differs")
    if a.uns.get("title") != "diffbio test" or a.uns.get("n_pcs") != 4 or a.uns.get("tau") != 0.5:
        errors.append(f"uns {dict(a.uns)}")
    print("OK" if not errors else "; ".join(errors))
    return 0 if not errors else 1


def cmd_malformed(good10x, goodh5ad, out_dir):
    """Derives one malformed file per defect from good fixtures (h5py edits)."""
    import os
    import shutil
    import h5py

    def variant(src, name, edit):
        dst = os.path.join(out_dir, name)
        shutil.copyfile(src, dst)
        with h5py.File(dst, "r+") as f:
            edit(f)

    def replace(f, path, data, **kw):
        attrs = dict(f[path].attrs)
        del f[path]
        f.create_dataset(path, data=data, **kw)
        for k_, v in attrs.items():
            f[path].attrs[k_] = v

    def non_monotone(f):
        p = f["matrix/indptr"][:]
        p[7] = p[8] + 1
        replace(f, "matrix/indptr", p)

    def index_out_of_range(f):
        ind = f["matrix/indices"][:]
        ind[len(ind) // 2] = f["matrix/shape"][0] + 3
        replace(f, "matrix/indices", ind)

    def negative_index(f):
        ind = f["matrix/indices"][:]
        ind[3] = -1
        replace(f, "matrix/indices", ind)

    def shape_mismatch(f):
        s = f["matrix/shape"][:]
        s[1] += 2
        replace(f, "matrix/shape", s)

    def barcodes_short(f):
        replace(f, "matrix/barcodes", f["matrix/barcodes"][:-1])

    def truncated_data(f):
        replace(f, "matrix/data", f["matrix/data"][:-5])
        replace(f, "matrix/indices", f["matrix/indices"][:-5])

    def float_indices(f):
        replace(f, "matrix/indices", f["matrix/indices"][:].astype(np.float64))

    def no_matrix(f):
        del f["matrix"]
        f.create_group("something_else")

    variant(good10x, "10x_non_monotone.h5", non_monotone)
    variant(good10x, "10x_index_out_of_range.h5", index_out_of_range)
    variant(good10x, "10x_negative_index.h5", negative_index)
    variant(good10x, "10x_shape_mismatch.h5", shape_mismatch)
    variant(good10x, "10x_barcodes_short.h5", barcodes_short)
    variant(good10x, "10x_truncated_data.h5", truncated_data)
    variant(good10x, "10x_float_indices.h5", float_indices)
    variant(good10x, "10x_no_matrix.h5", no_matrix)

    def x_no_encoding(f):
        del f["X"].attrs["encoding-type"]

    def x_wrong_encoding(f):
        f["X"].attrs["encoding-type"] = "dataframe"

    def x_no_version(f):
        del f["X"].attrs["encoding-version"]

    def x_bad_shape_attr(f):
        f["X"].attrs["shape"] = np.array([f["X"].attrs["shape"][0]], dtype=np.int64)

    def x_indptr_short(f):
        replace(f, "X/indptr", f["X/indptr"][:-1])

    def obs_length(f):
        idx = f["obs/_index"][:]
        replace(f, "obs/_index", idx[:-1], dtype=h5py.string_dtype())

    def obs_no_encoding(f):
        del f["obs"].attrs["encoding-type"]

    def cat_code_range(f):
        c = f["obs/cell_type/codes"][:]
        c[2] = 7
        replace(f, "obs/cell_type/codes", c)

    def cat_wrong_encoding(f):
        f["obs/cell_type"].attrs["encoding-type"] = "categorial"

    def column_missing(f):
        del f["obs/batch"]

    variant(goodh5ad, "h5ad_X_no_encoding.h5ad", x_no_encoding)
    variant(goodh5ad, "h5ad_X_wrong_encoding.h5ad", x_wrong_encoding)
    variant(goodh5ad, "h5ad_X_no_version.h5ad", x_no_version)
    variant(goodh5ad, "h5ad_X_bad_shape_attr.h5ad", x_bad_shape_attr)
    variant(goodh5ad, "h5ad_X_indptr_short.h5ad", x_indptr_short)
    variant(goodh5ad, "h5ad_obs_length.h5ad", obs_length)
    variant(goodh5ad, "h5ad_obs_no_encoding.h5ad", obs_no_encoding)
    variant(goodh5ad, "h5ad_cat_code_range.h5ad", cat_code_range)
    variant(goodh5ad, "h5ad_cat_wrong_encoding.h5ad", cat_wrong_encoding)
    variant(goodh5ad, "h5ad_column_missing.h5ad", column_missing)


COMMANDS = {
    "kmeans": cmd_kmeans, "metrics": cmd_metrics, "ari_nmi": cmd_ari_nmi, "knn": cmd_knn,
    "write10x": cmd_write10x, "writeh5ad": cmd_writeh5ad,
    "checkh5ad": cmd_checkh5ad, "malformed": cmd_malformed,
}

if __name__ == "__main__":
    rc = COMMANDS[sys.argv[1]](*sys.argv[2:])
    sys.exit(rc or 0)
