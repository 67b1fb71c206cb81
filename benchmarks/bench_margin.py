"""Benchmark: certified max-margin (working set + polish + exact bounds) vs the full QP.

For linear-teacher sets `teacher:n=N,d=D,seed=0` it times, in the same run,

* `verify.max_margin(data)` — cvxpy+Clarabel on a working set, active-set polish, and both
  certified bounds evaluated exactly over all N points (this is the time to a certified
  relative gap, which is printed);
* the baseline: cvxpy+Clarabel on the full QP `min ½‖w‖² s.t. y_i⟨w,x_i⟩ ≥ 1` (no
  certificate at all), capped by Clarabel's own time limit;
* the independent checker on the written certificate (for information).

Imports are warmed up before timing. Usage:

    python benchmarks/bench_margin.py [--sizes 1000,10000,100000] [--d 50] [--cap 600]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def full_qp(Z: np.ndarray, cap: float) -> tuple[float, float | None, str]:
    import cvxpy as cp

    t0 = time.perf_counter()
    w = cp.Variable(Z.shape[1])
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(w)), [Z @ w >= 1])
    prob.solve(solver=cp.CLARABEL, time_limit=cap)
    t = time.perf_counter() - t0
    margin = None if w.value is None else 1.0 / float(np.linalg.norm(w.value))
    return t, margin, prob.status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--d", type=int, default=50)
    parser.add_argument("--cap", type=float, default=600.0, help="time limit of the full QP (s)")
    args = parser.parse_args()

    import verify
    from verify._margin import certify_separability, max_margin
    from verify.check import check_certificate

    max_margin(verify.teacher_dataset(n=200, d=5, seed=1))  # warm up cvxpy/Clarabel/scipy imports
    full_qp(np.eye(3), 10.0)

    print(f"d = {args.d}; times in seconds; ratio = full QP / certified")
    print(f"{'n':>8} {'certified':>10} {'rounds':>6} {'ws':>6} {'rel.gap':>9} {'full QP':>9} "
          f"{'ratio':>7} {'check':>7}  margin interval / full-QP margin")
    prev = None
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            data = verify.teacher_dataset(n=n, d=args.d, seed=0)
            t0 = time.perf_counter()
            res = max_margin(data)
            t_cert = time.perf_counter() - t0
            path = certify_separability(data, Path(tmp) / f"m{n}.json", result=res)
            t0 = time.perf_counter()
            rep = check_certificate(path)
            t_check = time.perf_counter() - t0
            t_full, m_full, status = full_qp(data.y[:, None] * data.X, args.cap)
            inside = m_full is not None and res.lower <= m_full * (1 + 1e-7) and m_full * (1 - 1e-7) <= res.upper
            full = f"{t_full:9.2f}" if status == "optimal" else f">{args.cap:8.0f}"
            print(f"{n:>8} {t_cert:10.3f} {res.rounds:>6} {res.working_set:>6} {res.gap:9.1e} {full} "
                  f"{t_full / t_cert:7.1f} {t_check:7.2f}  [{res.lower:.12g}, {res.upper:.12g}] / "
                  f"{m_full if m_full is None else f'{m_full:.12g}'} ({status}; "
                  f"{'inside' if inside else 'OUTSIDE'}; checker {'accepted' if rep.accepted else 'REJECTED'})")
            if prev is not None:
                print(f"{'':>8} certified time ×{t_cert / prev[1]:.1f} for n ×{n / prev[0]:.0f}")
            prev = (n, t_cert)


if __name__ == "__main__":
    main()
