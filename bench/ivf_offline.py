"""Offline: would an IVF (clustered) dense scan keep recall@10 >= 0.98 on real vectors?

Issue 22 allows an approximate dense index for large tenants if recall@10 against exact
search stays >= 0.98. The 100k-chunk throughput bench uses random vectors, on which any
clustering loses recall, so this measures on real ones: the MiniLM chunk vectors and query
vectors of a ``tune_fusion.py dump`` (SciFact: 10,314 chunks, 300 test queries). Spherical
k-means (10 rounds) into ``nlist`` lists; a query scans the ``nprobe`` lists nearest to it.

    python bench/tune_fusion.py dump --data-dir DIR --dataset ../shared/data/scifact --split test
    python bench/ivf_offline.py bench/results/lists-scifact-test-*.pkl
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import tune_fusion as tf


def kmeans(
    x: np.ndarray, k: int, rng: np.random.Generator, rounds: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    centroids = x[rng.choice(len(x), k, replace=False)].copy()
    for _ in range(rounds):
        assign = np.argmax(x @ centroids.T, axis=1)
        for j in range(k):
            members = x[assign == j]
            if len(members):
                c = members.mean(0)
                centroids[j] = c / np.linalg.norm(c)
    return np.argmax(x @ centroids.T, axis=1), centroids


def recall(x: np.ndarray, q: np.ndarray, nlist: int, shares: tuple[float, ...]) -> None:
    exact = np.argsort(-(q @ x.T), axis=1)[:, :10]
    assign, centroids = kmeans(x, nlist, np.random.default_rng(0))
    for share in shares:
        nprobe = max(1, round(nlist * share))
        hits, scanned = [], []
        for i, v in enumerate(q):
            near = np.argsort(-(centroids @ v))[:nprobe]
            cand = np.flatnonzero(np.isin(assign, near))
            top = cand[np.argsort(-(x[cand] @ v))[:10]]
            hits.append(len(set(top.tolist()) & set(exact[i].tolist())) / 10)
            scanned.append(len(cand) / len(x))
        print(
            f"nlist {nlist} nprobe {nprobe}: recall@10 {np.mean(hits):.4f}, "
            f"vectors scanned {np.mean(scanned):.3f}"
        )


def main(path: str) -> None:
    lists = tf.load_lists(Path(path))
    x = lists.matrix.astype(np.float32)
    q = np.stack([v / np.linalg.norm(v) for v in lists.qvec.values()]).astype(np.float32)
    print(f"real vectors: {len(x)} chunks, {len(q)} queries")
    recall(x, q, 100, (0.05, 0.1, 0.2, 0.3, 0.4, 0.5))
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(x.shape).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    print("random vectors, same count:")
    recall(noise, q, 100, (0.2, 0.4))


if __name__ == "__main__":
    main(sys.argv[1])
