#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Classic peers of the single-cell QC tests (Debian python3-sklearn, python3-numpy).

  knn IN N D K OUT            exact k nearest neighbours (self excluded) of the N float64 rows
                              in IN (raw, row-major) by sklearn NearestNeighbors: OUT one row
                              of K indices per point
  fraction IN N NT D K OUT    for the first N of NT rows: the fraction of the K nearest
                              neighbours (self excluded, among all NT rows) with index >= N
  auroc SCORES LABELS         sklearn.metrics.roc_auc_score; prints the value
  perf_knn IN N D K           seconds for NearestNeighbors(n_neighbors=K+1).fit + kneighbors
                              (best of 1 run; prints "seconds algorithm")
"""
import sys
import time

import numpy as np


def load(path, n, d):
    return np.fromfile(path, dtype=np.float64).reshape(n, d)


def knn_excluding_self(x, queries, k):
    from sklearn.neighbors import NearestNeighbors
    nn = NearestNeighbors(n_neighbors=k + 1).fit(x)
    _, idx = nn.kneighbors(queries)
    out = []
    for i, row in enumerate(idx):
        row = [j for j in row if j != i][:k]
        out.append(row)
    return np.array(out)


def main(argv):
    cmd = argv[1]
    if cmd == "knn":
        _, _, path, n, d, k, out = argv
        n, d, k = int(n), int(d), int(k)
        x = load(path, n, d)
        idx = knn_excluding_self(x, x, k)
        np.savetxt(out, idx, fmt="%d")
    elif cmd == "fraction":
        _, _, path, n, nt, d, k, out = argv
        n, nt, d, k = int(n), int(nt), int(d), int(k)
        x = load(path, nt, d)
        idx = knn_excluding_self(x, x[:n], k)
        np.savetxt(out, (idx >= n).mean(axis=1), fmt="%.17g")
    elif cmd == "auroc":
        from sklearn.metrics import roc_auc_score
        s = np.loadtxt(argv[2])
        y = np.loadtxt(argv[3]).astype(int)
        print("%.17g" % roc_auc_score(y, s))
    elif cmd == "perf_knn":
        from sklearn.neighbors import NearestNeighbors
        _, _, path, n, d, k = argv
        n, d, k = int(n), int(d), int(k)
        x = load(path, n, d)
        t0 = time.perf_counter()
        nn = NearestNeighbors(n_neighbors=k + 1).fit(x)
        nn.kneighbors(x)
        t1 = time.perf_counter()
        print("%.6f %s" % (t1 - t0, nn._fit_method))
    else:
        print("unknown command " + cmd, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
