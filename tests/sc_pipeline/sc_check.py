# SPDX-License-Identifier: BSD-3-Clause
"""Checks of `diffbio sc` outputs with the real anndata / h5py / scikit-learn (Debian packages).

Called by tests/sc_pipeline/tests.cmake as `python3 sc_check.py <command> <args...>`; exits 0 and
prints "OK ..." on success, prints the problem and exits 1 otherwise.
"""
import sys
import warnings


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def cmd_output(path, n_clusters, n_pcs):
    """anndata opens the file; obs/obsm/var/uns hold what `diffbio sc` promises."""
    import anndata
    import numpy as np
    k, d = int(n_clusters), int(n_pcs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # anndata must not need to warn about the encoding
        a = anndata.read_h5ad(path)
    for col in ("cluster", "n_counts", "n_genes", "contamination", "doublet_score", "doublet_prob",
                "predicted_doublet", "cell_type", "batch", "is_doublet", "input_contamination"):
        if col not in a.obs.columns:
            fail(f"obs has no column {col!r}: {list(a.obs.columns)}")
    if str(a.obs["cluster"].dtype) != "category":
        fail("obs.cluster is not categorical")
    if len(a.obs["cluster"].cat.categories) != k:
        fail(f"obs.cluster has {len(a.obs['cluster'].cat.categories)} categories, expected {k}")
    for key, cols in (("X_pca", d), ("X_diffbio", d), ("soft_assignments", k)):
        if key not in a.obsm:
            fail(f"obsm has no {key!r}")
        if a.obsm[key].shape != (a.n_obs, cols):
            fail(f"obsm[{key!r}] has shape {a.obsm[key].shape}")
    s = np.asarray(a.obsm["soft_assignments"]).sum(1)
    if not np.allclose(s, 1.0, atol=1e-9):
        fail("soft assignments do not sum to 1")
    n_counts = np.asarray(a.X.sum(1)).ravel()
    if not np.allclose(n_counts, a.obs["n_counts"].values):
        fail("obs.n_counts differs from the row sums of X")
    if not ((a.obs["contamination"] >= 0) & (a.obs["contamination"] < 1)).all():
        fail("contamination outside [0, 1)")
    for col in ("pca_mean", "ambient_profile"):
        if col not in a.var.columns:
            fail(f"var has no column {col!r}")
    for key in ("diffbio_n_clusters", "diffbio_n_pcs", "diffbio_tau_soft_assignments", "diffbio_chain"):
        if key not in a.uns:
            fail(f"uns has no {key!r}")
    print(f"OK {a.n_obs} x {a.n_vars}, obs {len(a.obs.columns)} columns, obsm {sorted(a.obsm.keys())}")


def labels_of(path):
    import anndata
    return anndata.read_h5ad(path).obs["cluster"].cat.codes.values


def cmd_same_labels(a_path, b_path):
    """Two runs gave the same partition (cluster names may differ)."""
    from sklearn.metrics import adjusted_rand_score
    a, b = labels_of(a_path), labels_of(b_path)
    if len(a) != len(b):
        fail("different numbers of cells")
    ari = adjusted_rand_score(a, b)
    if ari != 1.0:
        fail(f"partitions differ: ARI {ari!r}")
    print("OK identical partitions of", len(a), "cells")


def cmd_same_h5(a_path, b_path):
    """Every dataset of two HDF5 files is bitwise identical (checkpoint/resume)."""
    import h5py
    import numpy as np
    with h5py.File(a_path, "r") as fa, h5py.File(b_path, "r") as fb:
        names = []
        fa.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        if not names:
            fail("no datasets")
        for n in names:
            if n not in fb:
                fail(f"{b_path} has no {n}")
            x, y = fa[n][()], fb[n][()]
            if x.dtype.kind == "f":
                if x.shape != y.shape or not np.array_equal(x.view(np.uint64 if x.dtype.itemsize == 8 else np.uint32),
                                                            y.view(np.uint64 if y.dtype.itemsize == 8 else np.uint32)):
                    fail(f"dataset {n} differs")
            elif not np.array_equal(x, y):
                fail(f"dataset {n} differs")
    print("OK", len(names), "datasets bitwise identical")


def cmd_tenx_matches(h5_path, h5ad_path):
    """A 10x file written by simulate-sc holds the same counts as the .h5ad of the same seed."""
    import anndata
    import h5py
    import numpy as np
    import scipy.sparse as sp
    with h5py.File(h5_path, "r") as f:
        g, n = f["matrix/shape"][()]
        m = sp.csc_matrix((f["matrix/data"][()], f["matrix/indices"][()], f["matrix/indptr"][()]), shape=(g, n))
    a = anndata.read_h5ad(h5ad_path)
    if (m.T != a.X).nnz != 0:
        fail("10x and h5ad counts differ")
    print("OK", n, "cells identical")


def cmd_doublets(path, min_auroc):
    """The doublet score separates the simulator's planted doublets: sklearn's AUROC of
    obs.doublet_score against obs.is_doublet is >= min_auroc and equals the logged uns value."""
    import anndata
    import numpy as np
    from sklearn.metrics import roc_auc_score
    a = anndata.read_h5ad(path)
    truth = np.asarray(a.obs["is_doublet"]).astype(bool)
    auc = roc_auc_score(truth, a.obs["doublet_score"].values)
    if abs(auc - float(a.uns["diffbio_doublet_auroc"])) > 1e-9:
        fail(f"sklearn AUROC {auc} differs from uns diffbio_doublet_auroc {a.uns['diffbio_doublet_auroc']}")
    if auc < float(min_auroc):
        fail(f"doublet AUROC {auc:.4f} < {min_auroc} ({truth.sum()} doublets of {len(truth)} cells)")
    print(f"OK doublet AUROC {auc:.4f} ({truth.sum()} doublets of {len(truth)} cells)")


def cmd_cell_calling(in_path, out_path):
    """`diffbio sc` drops the simulator's empty droplets (and keeps >= 99 % of the cells)."""
    import anndata
    import numpy as np
    a_in, a_out = anndata.read_h5ad(in_path, backed="r"), anndata.read_h5ad(out_path)
    empty_in = np.asarray(a_in.obs["is_empty"]).astype(bool)
    if empty_in.sum() == 0:
        fail("the input has no empty droplets")
    if np.asarray(a_out.obs["is_empty"]).astype(bool).any():
        fail("empty droplets reached the analysis")
    cells_in = set(a_in.obs_names[~empty_in])
    kept = len(cells_in & set(a_out.obs_names))
    if kept < 0.99 * len(cells_in):
        fail(f"only {kept} of {len(cells_in)} cells kept")
    if int(a_out.uns["diffbio_n_empty_filtered"]) != a_in.n_obs - a_out.n_obs:
        fail("uns diffbio_n_empty_filtered is wrong")
    print(f"OK {empty_in.sum()} empty droplets removed, {kept} of {len(cells_in)} cells kept "
          f"(min counts {float(a_out.uns['diffbio_min_counts']):.1f})")


def cmd_vae(path, n_latent, min_ari):
    """--embedding vae: obsm X_vae is the latent (= X_diffbio) and its clusters match the types."""
    import anndata
    import numpy as np
    from sklearn.metrics import adjusted_rand_score
    a = anndata.read_h5ad(path)
    if "X_vae" not in a.obsm or a.obsm["X_vae"].shape != (a.n_obs, int(n_latent)):
        fail(f"obsm X_vae missing or of the wrong shape: {list(a.obsm.keys())}")
    if not np.array_equal(np.asarray(a.obsm["X_vae"]), np.asarray(a.obsm["X_diffbio"])):
        fail("X_vae differs from X_diffbio")
    single = ~np.asarray(a.obs["is_doublet"]).astype(bool)
    ari = adjusted_rand_score(a.obs["cell_type"].values[single], a.obs["cluster"].values[single])
    if ari < float(min_ari):
        fail(f"ARI of the VAE clusters {ari:.4f} < {min_ari}")
    print(f"OK X_vae {a.obsm['X_vae'].shape}, ARI (singlets) {ari:.4f}")


def cmd_contamination(path, max_ratio="1.0"):
    """Ambient removal reduces the per-cell contamination error: mean |rho_hat - rho| <=
    max_ratio x mean rho (the error of no correction)."""
    import anndata
    import numpy as np
    a = anndata.read_h5ad(path)
    est, true = a.obs["contamination"].values, a.obs["input_contamination"].values
    mae, none = np.abs(est - true).mean(), np.abs(true).mean()
    if not mae <= float(max_ratio) * none:
        fail(f"contamination MAE {mae:.4f} > {max_ratio} x no correction {none:.4f}")
    print(f"OK contamination MAE {mae:.4f} (no correction {none:.4f}, ratio {mae / none:.3f})")


if __name__ == "__main__":
    globals()["cmd_" + sys.argv[1]](*sys.argv[2:])
