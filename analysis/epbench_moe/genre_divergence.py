"""Do genres use the experts differently, beyond sampling noise?

python3 -m epbench_moe.genre_divergence TRACE [--permutations 200]

Per layer and genre: the Jensen-Shannon divergence (bits) between the genre's expert load
and the whole trace's (as `epbench trace stats` reports it), against the same divergence
when the genre labels are shuffled over the requests (a permutation test: what sampling
noise alone gives with the same request counts)."""
import argparse

import h5py
import numpy as np


def js_bits(p, q):
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a, b):
        nz = a > 0
        return float((a[nz] * np.log2(a[nz] / b[nz])).sum())
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def request_loads(path):
    """[R, L, E] token-expert pairs per request, the genre of each request, genre names."""
    with h5py.File(path, "r") as f:
        ids = f["tokens/expert_ids"][()]
        off = f["requests/token_offset"][()]
        domain = f["requests/domain"][()]
        names = [n.decode() if isinstance(n, bytes) else n for n in f["requests/domain"].attrs["names"]]
        E = int(f.attrs["num_experts"])
    L = ids.shape[1]
    loads = np.zeros((len(domain), L, E))
    for r in range(len(domain)):
        chunk = ids[off[r]:off[r + 1]]
        for l in range(L):
            loads[r, l] = np.bincount(chunk[:, l].ravel(), minlength=E)
    return loads, domain, names


def genre_js(loads, domain, genres):
    total = loads.sum(axis=0)
    return np.array([[js_bits(loads[domain == g, l].sum(axis=0), total[l]) for l in range(loads.shape[1])]
                     for g in genres])  # [G, L]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trace")
    parser.add_argument("--permutations", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    loads, domain, names = request_loads(args.trace)
    genres = sorted(set(domain.tolist()))
    observed = genre_js(loads, domain, genres)
    rng = np.random.RandomState(args.seed)
    null = np.array([genre_js(loads, rng.permutation(domain), genres) for _ in range(args.permutations)])
    print(f"{'genre':<16} {'requests':>8} {'JS mean':>8} {'null p99':>8} {'ratio':>6}  p (permutation)")
    for i, g in enumerate(genres):
        obs = observed[i].mean()
        null_means = null[:, i].mean(axis=1)
        p = (1 + (null_means >= obs).sum()) / (1 + args.permutations)
        print(f"{names[g]:<16} {int((domain == g).sum()):>8} {obs:>8.4f} {np.percentile(null_means, 99):>8.4f} "
              f"{obs / null_means.mean():>6.1f}  {p:.3f}")
    above = sum(observed[i].mean() > np.percentile(null[:, i].mean(axis=1), 99) for i in range(len(genres)))
    print(f"{above} of {len(genres)} genres diverge beyond the 99th percentile of shuffled labels")


if __name__ == "__main__":
    main()
