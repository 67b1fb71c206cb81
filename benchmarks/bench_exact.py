"""Exact worst-case disagreement (THEORY.md §6): time and LPs vs width, against a naive MILP.

For each family and size, `certify_disagreement` solves β⁺ and β⁻ and writes the certificate
(the timed part), then `verify check` re-derives it (timed separately). The baseline measured
in the same run is the textbook big-M MILP (one binary per neuron for all 2k neurons,
M = ‖w‖₁) solved by HiGHS through `scipy.optimize.milp`, both sides, under the same time
limit; the printed ratio is baseline time / our time (">" when the baseline timed out).

Families (k neurons per sign, input dimension d):
  trained    verify.train on a linear teacher (n=400, margin 0.1, α=0.5, 20000 steps)
  clustered  neurons ±v + 0.3·N(0, I), v a random unit vector
  random     all neurons N(0, I)

The direction is the mean-center one (what `verify audit` reports); `--axis` uses the cluster
axis v for the clustered family instead.

Usage: python benchmarks/bench_exact.py [--families trained,clustered,random] [--ks 4,8,16,32,64]
       [--ds 10,50] [--time-limit 60] [--baseline-limit 60] [--no-baseline] [--axis] [--workers 1|2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from verify import Network, save_network
from verify._disagreement import certify_disagreement, default_direction
from verify.check import check_certificate


def make_net(family: str, k: int, d: int, seed: int = 0) -> tuple[Network, np.ndarray | None]:
    """The network and, for the clustered family, its cluster axis v."""
    rng = np.random.default_rng(seed)
    if family == "trained":
        from verify import TrainConfig, load_dataset, train

        data = load_dataset(f"teacher:n=400,d={d},seed={seed},margin=0.1")
        return train(data, TrainConfig(width=k, alpha=0.5, lr=0.05, steps=20000, seed=seed, init_scale=1e-3)).final, None
    if family == "clustered":
        v = rng.normal(size=d)
        v /= np.linalg.norm(v)
        return Network(v + 0.3 * rng.normal(size=(k, d)), -v + 0.3 * rng.normal(size=(k, d)), 0.5), v
    if family == "random":
        return Network(rng.normal(size=(k, d)), rng.normal(size=(k, d)), 0.5), None
    raise ValueError(family)


def naive_milp(net: Network, v: np.ndarray, side: int, time_limit: float) -> tuple[float, bool]:
    """Seconds and whether the big-M MILP for β⁺ (side 1) / β⁻ (side −1) finished."""
    d, a = net.d, net.alpha
    H = np.vstack([net.W_pos, net.W_neg])
    sign = np.r_[np.ones(net.k_pos), -np.ones(net.k_neg)]
    m = H.shape[0]
    L = np.abs(H).sum(axis=1)
    n = d + 2 * m
    A = np.zeros((6 * m + 1, n))
    lb = np.full(6 * m + 1, -np.inf)
    ub = np.full(6 * m + 1, np.inf)
    for j in range(m):
        r = 6 * j
        y, dl = d + j, d + m + j
        A[r, :d], A[r, y] = -H[j], 1; lb[r] = 0                                       # y ≥ p
        A[r + 1, :d], A[r + 1, y] = -a * H[j], 1; lb[r + 1] = 0                       # y ≥ αp
        A[r + 2, :d], A[r + 2, y], A[r + 2, dl] = -H[j], 1, (1 - a) * L[j]; ub[r + 2] = (1 - a) * L[j]
        A[r + 3, :d], A[r + 3, y], A[r + 3, dl] = -a * H[j], 1, -(1 - a) * L[j]; ub[r + 3] = 0
        A[r + 4, :d], A[r + 4, dl] = H[j], -L[j]; ub[r + 4] = 0                       # p ≤ Lδ
        A[r + 5, :d], A[r + 5, dl] = H[j], -L[j]; lb[r + 5] = -L[j]                   # p ≥ −L(1−δ)
    A[-1, d:d + m] = side * sign
    ub[-1] = 0
    c = np.zeros(n)
    c[:d] = -side * v
    lo = np.r_[-np.ones(d), np.full(m, -np.inf), np.zeros(m)]
    hi = np.r_[np.ones(d), np.full(m, np.inf), np.ones(m)]
    t0 = time.perf_counter()
    res = milp(c, constraints=LinearConstraint(A, lb, ub), bounds=Bounds(lo, hi),
               integrality=np.r_[np.zeros(d + m), np.ones(m)],
               options={"time_limit": time_limit, "mip_rel_gap": 1e-6})
    return time.perf_counter() - t0, res.status == 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default="trained,clustered,random")
    ap.add_argument("--ks", default="4,8,16,32,64")
    ap.add_argument("--ds", default="10,50")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--baseline-limit", type=float, default=60.0)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--workers", type=int, choices=(1, 2),
                    help="processes for the two sides (default: 2 where two cores are usable)")
    ap.add_argument("--axis", action="store_true",
                    help="clustered family: use the cluster axis v as the direction (default: mean centers)")
    args = ap.parse_args()
    print(f"{'family':9s} {'d':>3s} {'k':>3s} {'solve+cert s':>12s} {'check s':>8s} {'LPs':>6s} "
          f"{'unfixed±':>9s} {'done':>5s} {'gap β⁺':>9s} {'gap β⁻':>9s} {'MILP s':>8s} {'ratio':>7s}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for family in args.families.split(","):
            for d in map(int, args.ds.split(",")):
                for k in map(int, args.ks.split(",")):
                    net, axis = make_net(family, k, d)
                    v = axis if (args.axis and axis is not None) else default_direction(net)
                    path = save_network(tmp / f"{family}-{d}-{k}.npz", net)
                    t0 = time.perf_counter()
                    cert = certify_disagreement(path, tmp, v=v, time_limit=args.time_limit, name=f"{family}-{d}-{k}.json",
                                                **({"workers": args.workers} if args.workers else {}))
                    t_solve = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    rep = check_certificate(cert)
                    t_check = time.perf_counter() - t0
                    assert rep.accepted, rep.to_dict()
                    import json

                    info = json.loads(cert.read_text())["info"]
                    ci = info["certified_interval"]
                    gap = {s: ci[s][1] - (ci[s][0] if ci[s][0] is not None else -np.inf) for s in ("plus", "minus")}
                    if args.no_baseline:
                        base, ratio = "-", "-"
                    else:
                        tb, ok = 0.0, True
                        for side in (1, -1):
                            t, fin = naive_milp(net, v, side, args.baseline_limit)
                            tb += t
                            ok &= fin
                        base = f"{tb:.2f}" if ok else f">{args.baseline_limit:.0f}"
                        ratio = f"{'' if ok else '>'}{tb / t_solve:.2f}"
                    unf = info["unfixed_at_root"]
                    print(f"{family:9s} {d:3d} {k:3d} {t_solve:12.2f} {t_check:8.2f} {info['nodes']:6d} "
                          f"{unf['plus']:4d}/{unf['minus']:<4d} {str(info['complete']):>5s} {gap['plus']:9.2g} "
                          f"{gap['minus']:9.2g} {base:>8s} {ratio:>7s}", flush=True)


if __name__ == "__main__":
    main()
