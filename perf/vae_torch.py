# SPDX-License-Identifier: BSD-3-Clause
"""PyTorch peer of diffbio_perf_vae: the same scVI-style VAE as VAENormalizer, trained on the same
CSR counts with the same mini-batch size, Adam and thread count; prints the best seconds per epoch.

  python3 vae_torch.py <prefix> <cells> <genes> <batches> <hidden> <latent> <batch_size> <epochs> <threads>

<prefix>_indptr.bin (int64), _indices.bin (int32), _data.bin (float32), _batch.bin (int32).
Mini-batches are densified one at a time (as scvi-tools does with a sparse AnnData), so memory is
O(batch · genes) here too. float32, as in the C++ run it is compared with.
"""
import sys
import time

import numpy as np
import scipy.sparse
import torch


class VAE(torch.nn.Module):
    def __init__(self, G, NB, H, L):
        super().__init__()
        self.NB = NB
        self.enc = torch.nn.Linear(G + NB, H)
        self.out = torch.nn.Linear(H, 2 * L)
        self.dec = torch.nn.Linear(L + NB, G)
        self.log_theta = torch.nn.Parameter(torch.zeros(G))
        self.L = L

    def forward(self, x, b):
        onehot = torch.nn.functional.one_hot(b, self.NB).float()
        lib = x.sum(1, keepdim=True)
        h = torch.relu(self.enc(torch.cat([torch.log1p(x), onehot], 1)))
        e = self.out(h)
        mu, lv = e[:, : self.L], e[:, self.L:]
        z = mu + torch.exp(0.5 * lv) * torch.randn_like(mu)
        logits = self.dec(torch.cat([z, onehot], 1))
        log_m = torch.log(lib.clamp(min=1)) + torch.log_softmax(logits, 1)
        theta = torch.exp(self.log_theta)
        log_tm = torch.log(theta + torch.exp(log_m))
        nll = (torch.lgamma(theta) - torch.lgamma(x + theta) + torch.lgamma(x + 1)
               - theta * (self.log_theta - log_tm) - x * (log_m - log_tm)).sum(1)
        kl = -0.5 * (1 + lv - mu * mu - torch.exp(lv)).sum(1)
        return (nll + kl).mean()


def main():
    prefix = sys.argv[1]
    N, G, NB, H, L, B, epochs, threads = map(int, sys.argv[2:10])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    indptr = np.fromfile(prefix + "_indptr.bin", dtype=np.int64)
    indices = np.fromfile(prefix + "_indices.bin", dtype=np.int32).astype(np.int64)
    data = np.fromfile(prefix + "_data.bin", dtype=np.float32)
    batch = torch.from_numpy(np.fromfile(prefix + "_batch.bin", dtype=np.int32).astype(np.int64))
    X = scipy.sparse.csr_matrix((data, indices, indptr), shape=(N, G))
    model = VAE(G, NB, H, L)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)

    def epoch(n_cells):
        perm = rng.permutation(n_cells)
        total = 0.0
        for s in range(0, n_cells, B):
            rows = perm[s:s + B]
            xb = torch.from_numpy(X[rows].toarray())  # dense mini-batch, as scvi-tools builds it
            loss = model(xb, batch[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(rows)
        return total / n_cells

    epoch(min(N, 8 * B))  # warm-up
    best, last = float("inf"), 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
        last = epoch(N)
        best = min(best, time.perf_counter() - t0)
    print(f"{best:.6f} {last:.6f}")


if __name__ == "__main__":
    main()
