# SPDX-License-Identifier: BSD-3-Clause
"""Classic peer of VAENormalizer's likelihood: −Σ_g log NB(y_g | m_g, θ_g) per row with SciPy's
nbinom (n = θ, p = θ/(θ + m)). Input lines: "row gene y m theta"; output: one NLL per row."""
import sys

import numpy as np
from scipy.stats import nbinom

rows, y, m, th = [], [], [], []
with open(sys.argv[1]) as f:
    for line in f:
        r, _, a, b, c = line.split()
        rows.append(int(r))
        y.append(float(a))
        m.append(float(b))
        th.append(float(c))
rows, y, m, th = map(np.asarray, (rows, y, m, th))
lp = nbinom.logpmf(y, th, th / (th + m))
for r in range(rows.max() + 1):
    print(repr(float(-lp[rows == r].sum())))
