"""Run-steps per second of ensembles of SGD runs vs a PyTorch batched implementation, same run.

    python benchmarks/bench_ensemble.py                 # CPU: numba ensemble (float64, float32) vs PyTorch bmm, R = 64, 1024
    python benchmarks/bench_ensemble.py --gpu           # GPU: Triton kernel vs eager PyTorch bmm (cuda)
    python benchmarks/bench_ensemble.py --check         # GPU: results vs the CPU path (max deviations)
    python benchmarks/bench_ensemble.py --e2e           # GPU: train_ensemble end to end, two horizons
    python benchmarks/bench_ensemble.py --kernel        # CPU, one thread: the numba kernels alone

Setting (the issue's): linear-teacher data n=1000, d=50; k=50 neurons per sign (100 hidden
units), α=0.5, η=0.01, batch-1 uniform sampling, R runs with their own seeds.

* ours (CPU): `train_ensemble(…, device="cpu")`, the numba kernel over runs on all cores, with
  the full bookkeeping of every run (running sums, ε counts, shared-σ' state, snapshots at
  steps 0 and T with training loss/error/pattern flips); the time is the library's own wall
  time of the whole ensemble (index drawing and snapshot statistics included). Twice: in
  float64 (the default, every run bit-identical to `train`) and with `dtype="float32"` (float32
  weights and per-neuron arithmetic, float64 running sums and snapshot statistics).
* baseline: the R runs as one batched matrix product per step (`torch.bmm` forward, one `bmm`
  outer-product update), float32 weights, in two versions: with no bookkeeping at all (the
  cheapest PyTorch version, a lower bound on its cost), and with the bookkeeping ours does every
  step (the five running sums Σg, Σg·s, Σg·z, Σg²‖x‖²Σσ'², Σℓ and the ε counts, in float64; the
  shared-σ' state) — the like-for-like comparison. Against our float32 engine the precision is
  like-for-like too; our float64 engine does more precise arithmetic than the baseline.
* ours (GPU): against both baselines above, on the same GPU, in the same run; the fused Triton kernel (weights stay in registers over a block of steps),
  float32 weights and float64 sums, timed at the engine (indices drawn once, up front) and
  end to end through `train_ensemble` (indices drawn on the host from each run's stream).

Every figure is the best of `REPEATS`; on the CPU all sides alternate, so they see the same load
(the machines are shared; the best is the least disturbed).

Measured on the 2-core AMD EPYC (AVX-512) development machine, shared with other jobs (the load
average printed is the 1-minute one, our own process included):

    R=   64  PyTorch bmm float32, no bookkeeping        146,426 run-steps/s   (2 torch threads)
    R=   64  PyTorch bmm float32, same bookkeeping      101,882 run-steps/s   (2 torch threads)
            ours (numba float64, bit-identical to train, full bookkeeping)   1,350,455 run-steps/s   ratio   9.2x (no bookkeeping),  13.3x (same bookkeeping)
            ours (numba float32 weights                , full bookkeeping)   1,993,091 run-steps/s   ratio  13.6x (no bookkeeping),  19.6x (same bookkeeping)
            (load average 2.00)
    R= 1024  PyTorch bmm float32, no bookkeeping        171,796 run-steps/s   (2 torch threads)
    R= 1024  PyTorch bmm float32, same bookkeeping      173,212 run-steps/s   (2 torch threads)
            ours (numba float64, bit-identical to train, full bookkeeping)   1,863,021 run-steps/s   ratio  10.8x (no bookkeeping),  10.8x (same bookkeeping)
            ours (numba float32 weights                , full bookkeeping)   2,834,061 run-steps/s   ratio  16.5x (no bookkeeping),  16.4x (same bookkeeping)
            (load average 1.89)

Over five runs the ratios were 9.3–19.6x for float32 and 6.4–13.3x for float64, lowest under the
heaviest load (another job holding a core).
See the README's ensemble section for more runs and the one-thread kernel figures.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import verify

REPEATS = 3
K, ALPHA, LR = 50, 0.5, 0.01


def torch_batched(data, R: int, steps: int, device: str = "cpu", dtype: str = "float32",
                  repeats: int = REPEATS, bookkeeping: bool = False) -> float:
    """Run-steps/s of the PyTorch baseline: R runs stacked (R, m, d), one `bmm` each way per step.

    With `bookkeeping`, every step also updates what ours keeps per run: the five float64 running
    sums, the ε counts and the shared-σ' state (last failing step, number of failures).
    """
    import torch

    dt, dev = getattr(torch, dtype), torch.device(device)
    gen = torch.Generator().manual_seed(0)
    X = torch.tensor(data.X, dtype=dt, device=dev)
    y = torch.tensor(data.y, dtype=dt, device=dev)
    W = (torch.randn(R, 2 * K, data.d, generator=gen, dtype=dt) * (1e-3 / data.d ** 0.5)).to(dev)
    sign = torch.cat([torch.ones(K), -torch.ones(K)]).to(dev, dt)
    one, alpha = torch.ones((), dtype=dt, device=dev), torch.full((), ALPHA, dtype=dt, device=dev)
    idx = torch.randint(0, data.n, (steps + 3, R), generator=gen).to(dev)
    f64 = torch.float64
    xx = torch.tensor(np.einsum("ij,ij->i", data.X, data.X), dtype=f64, device=dev)
    gthr = torch.tensor(-np.expm1(-np.array([0.01, 0.1])), dtype=f64, device=dev).unsqueeze(-1)
    sums = torch.zeros(5, R, dtype=f64, device=dev)
    counts = torch.zeros(gthr.shape[0], R, dtype=torch.int64, device=dev)
    last_fail = torch.full((R,), -1, dtype=torch.int64, device=dev)
    n_fail = torch.zeros(R, dtype=torch.int64, device=dev)

    def step(i, t):
        x, yi = X[i], y[i]                                    # (R, d), (R,)
        pre = torch.bmm(W, x.unsqueeze(-1)).squeeze(-1)       # (R, m)
        sp = torch.where(pre > 0, one, alpha)
        out = (sp * pre) @ sign                               # σ(p) = σ'(p)·p
        z = yi * out
        g = torch.sigmoid(-z)
        coef = (LR * g * yi).unsqueeze(-1) * sp * sign        # (R, m)
        W.add_(torch.bmm(coef.unsqueeze(-1), x.unsqueeze(1)))
        if bookkeeping:
            g64, s = g.to(f64), sp.sum(1).to(f64)
            sums[0] += g64
            sums[1] += g64 * s
            sums[2] += g64 * z.to(f64)
            sums[3] += g64 * g64 * xx[i] * (sp * sp).sum(1).to(f64)
            sums[4] += torch.nn.functional.softplus(-z).to(f64)
            counts.add_(g64 > gthr)
            fail = (sp[:, :K] != sp[:, :1]).any(1) | (sp[:, K:] != sp[:, K:K + 1]).any(1)
            last_fail.copy_(torch.where(fail, t, last_fail))
            n_fail.add_(fail)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    for t in range(3):
        step(idx[t], t)
    best = 0.0
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        for t in range(3, steps + 3):
            step(idx[t], t)
        sync()
        best = max(best, R * steps / (time.perf_counter() - t0))
    return best


def _config(steps: int) -> verify.TrainConfig:
    return verify.TrainConfig(width=K, alpha=ALPHA, lr=LR, steps=steps, snapshots=0)


def ensemble_rate(data, R: int, steps: int, device: str = "cpu", backend=None, repeats: int = REPEATS,
                  dtype: str | None = None) -> float:
    """Run-steps/s of `train_ensemble` end to end (its own wall time of the whole ensemble)."""
    from verify._ensemble import train_ensemble

    train_ensemble(data, _config(4), list(range(2)), device=device, backend=backend, dtype=dtype)  # compile / warm
    best = 0.0
    for _ in range(repeats):
        runs = train_ensemble(data, _config(steps), list(range(R)), device=device, backend=backend, dtype=dtype)
        best = max(best, R * steps / runs[0].meta["ensemble"]["seconds_total"])
    return best


def engine_rate(data, R: int, steps: int, backend: str = "triton", dtype: str = "float32",
                device: str = "cuda", warps: int | None = None) -> float:
    """Run-steps/s of the GPU engine alone: indices drawn once up front, weights on the device."""
    import torch

    from verify._ensemble_torch import TorchEngine

    rng = np.random.default_rng(0)
    W = rng.standard_normal((R, 2 * K, data.d), dtype=np.float32) * np.float32(1e-3 / data.d ** 0.5)
    gthr = -np.expm1(-np.array([0.01, 0.1]))
    eng = TorchEngine(data.X, data.y, W[:, :K], W[:, K:], ALPHA, LR, None, gthr, False, steps,
                      device=device, backend=backend, dtype=dtype, warps=warps)
    del W
    idx = rng.integers(0, data.n, size=(R, steps, 1)).astype(eng.index_dtype)
    eng.advance(idx[:, :2], 0)  # compile
    it = torch.from_numpy(idx).to(eng.device)
    sync = torch.cuda.synchronize if eng.device.type == "cuda" else (lambda: None)
    best = 0.0
    for _ in range(REPEATS):
        sync()
        t0 = time.perf_counter()
        if backend == "triton":
            eng._advance_triton(it[:, :, 0].contiguous(), 0)
        else:
            for t in range(steps):
                eng._step(it[:, t, :], t)
        sync()
        best = max(best, R * steps / (time.perf_counter() - t0))
    return best


def cpu_main(args) -> None:
    import os

    import numba
    import torch

    data = verify.teacher_dataset(n=1000, d=50, seed=0)
    print(f"CPU: up to {torch.get_num_threads()} torch threads; numba threads {numba.get_num_threads()}; "
          f"n={data.n}, d={data.d}, {2 * K} neurons; load average {os.getloadavg()[0]:.2f}")
    # PyTorch's small parallel regions collapse when another process holds a core (measured on
    # this 2-core machine under load: 2.5k run-steps/s with 2 threads against 80k with 1), so
    # the baseline gets the better of one thread and all threads, each measurement
    thread_counts = sorted({1, torch.get_num_threads()})
    ours_kinds = (("float64", "numba float64, bit-identical to train"), ("float32", "numba float32 weights"))
    for R in args.runs:
        ours = {dt: 0.0 for dt, _ in ours_kinds}
        base = {b: (0.0, 0) for b in (False, True)}
        tsteps = max(20, args.torch_steps // R)
        for _ in range(REPEATS):  # interleaved, so that all sides see the same load on a shared machine
            for dt, _ in ours_kinds:
                ours[dt] = max(ours[dt], ensemble_rate(data, R, args.steps, repeats=1, dtype=dt))
            for bk in (False, True):
                for th in thread_counts:
                    torch.set_num_threads(th)
                    base[bk] = max(base[bk], (torch_batched(data, R, tsteps, repeats=1, bookkeeping=bk), th))
            torch.set_num_threads(thread_counts[-1])
        for bk, label in ((False, "no bookkeeping  "), (True, "same bookkeeping")):
            rate, th = base[bk]
            print(f"R={R:5d}  PyTorch bmm float32, {label}  {rate:11,.0f} run-steps/s"
                  f"   ({th} torch thread{'s' if th > 1 else ''})")
        for dt, label in ours_kinds:
            rate = ours[dt]
            print(f"        ours ({label:37s}, full bookkeeping) {rate:11,.0f} run-steps/s   ratio "
                  f"{rate / base[False][0]:5.1f}x (no bookkeeping), {rate / base[True][0]:5.1f}x (same bookkeeping)")
        print(f"        (load average {os.getloadavg()[0]:.2f})", flush=True)


def kernel_main(runs: int = 16, steps: int = 3000) -> None:
    """One thread: the CPU kernels alone, advancing the same runs from the same weights on the same indices.

    The single-run kernel (`sgd_chunk`), the column kernel `train` uses (`sgd1_columns`), and the
    ensemble's lane-blocked kernels in float64 (`sgd1_blocks`, asserted bit-identical to the other
    two) and float32 (`sgd1_blocks32`); no index drawing, no snapshots — the per-core speed of the
    inner loop alone, the kernels alternating so that all see the same load.
    """
    import numba

    from verify._ensemble import BlocksEngine, ensemble_chunk
    from verify._kernels import N_SUMS, sgd1_columns

    numba.set_num_threads(1)
    data = verify.teacher_dataset(n=1000, d=50, seed=0)
    X, y = np.ascontiguousarray(data.X), data.y
    xx = np.einsum("ij,ij->i", X, X)
    rng = np.random.default_rng(0)
    Wp, Wn = (rng.standard_normal((runs, K, data.d)) * (1e-3 / data.d ** 0.5) for _ in range(2))
    idx = rng.integers(0, data.n, size=(runs, steps, 1))
    gthr = -np.expm1(-np.array([0.01, 0.1]))

    def books():
        return (np.zeros((runs, N_SUMS)), np.zeros((runs, 2), np.int64),
                np.tile(np.array([-1, 0], np.int64), (runs, 1)))

    def single():
        W1, W2 = Wp.copy(), Wn.copy()
        sums, counts, state = books()
        e, ei = np.empty((runs, 0)), np.empty((runs, 0), np.int64)
        t0 = time.perf_counter()
        ensemble_chunk(X, y, W1, W2, ALPHA, LR, idx, np.empty((0, data.d)), sums, gthr, counts, state, False, 0,
                       ei, e, e, e, e, e, xx)
        return time.perf_counter() - t0, (np.concatenate([W1, W2], 1), sums, counts, state)

    def columns():
        Wt = np.ascontiguousarray(np.concatenate([Wp, Wn], 1).transpose(0, 2, 1))
        sums, counts, state = books()
        i1 = np.ascontiguousarray(idx[:, :, 0])
        t0 = time.perf_counter()
        for r in range(runs):
            sgd1_columns(X, y, Wt[r], K, ALPHA, LR, i1[r], sums[r], gthr, counts[r], state[r], 0, xx)
        return time.perf_counter() - t0, (Wt.transpose(0, 2, 1), sums, counts, state)

    def blocks(dtype):
        def f():
            eng = BlocksEngine(X, y, Wp, Wn, ALPHA, LR, None, gthr, False, steps, dtype=dtype)
            t0 = time.perf_counter()
            eng.advance(idx, 0)
            dt = time.perf_counter() - t0
            W1, W2 = eng.weights()
            return dt, (np.concatenate([W1, W2], 1), eng.sums, eng.counts, eng.state)
        return f

    kernels = (("single-run kernel (sgd_chunk)", single), ("train's kernel (sgd1_columns)", columns),
               ("ensemble float64 (sgd1_blocks)", blocks("float64")),
               ("ensemble float32 (sgd1_blocks32)", blocks("float32")))
    out = {name: f()[1] for name, f in kernels}
    ref = out[kernels[0][0]]
    for name, _ in kernels[1:3]:
        assert all(np.array_equal(u, v) for u, v in zip(ref, out[name])), f"{name} differs from sgd_chunk"
    rates = {}
    for _ in range(REPEATS):
        for name, f in kernels:
            rates[name] = max(rates.get(name, 0.0), runs * steps / f()[0])
    for name, rate in rates.items():
        print(f"1 thread, {runs} runs x {steps} steps: {name:33s} {rate:10,.0f} run-steps/s")
    print("float64 results bit-identical")


def _have_triton(device: str) -> bool:
    import torch

    from verify._ensemble_torch import triton_available

    return triton_available(torch.device(device))


def gpu_main(args) -> None:
    import torch

    dev = args.device
    data = verify.teacher_dataset(n=1000, d=50, seed=0)
    name = torch.cuda.get_device_name() if dev.startswith("cuda") else "CPU (smoke run)"
    print(f"device: {name}  torch {torch.__version__}")
    fused_backend = "triton" if _have_triton(dev) else None
    if fused_backend is None:
        print("triton not importable here: the fused kernel is not measured (eager engine only)")
    for R in args.runs:
        base = torch_batched(data, R, args.base_steps, device=dev)
        books = torch_batched(data, R, args.base_steps, device=dev, bookkeeping=True)
        print(f"R={R:6d}  eager PyTorch bmm (float32): no bookkeeping {base:13,.0f} run-steps/s, "
              f"same bookkeeping {books:13,.0f} run-steps/s", flush=True)
        if fused_backend:
            fused = engine_rate(data, R, args.gpu_steps, device=dev)
            print(f"R={R:6d}  Triton fused (float32, full bookkeeping) {fused:14,.0f} run-steps/s   "
                  f"ratio {fused / base:6.1f}x (no bookkeeping), {fused / books:6.1f}x (same bookkeeping)",
                  flush=True)
    if fused_backend:
        R = args.runs[len(args.runs) // 2]
        rates = {w: engine_rate(data, R, args.gpu_steps, device=dev, warps=w) for w in (1, 2, 4, 8)}
        print(f"R={R:6d}  Triton fused (float32) by warps per program: "
              + ", ".join(f"{w}: {r:,.0f}" for w, r in rates.items()) + " run-steps/s", flush=True)
        rate64 = engine_rate(data, R, args.gpu_steps, device=dev, dtype="float64")
        print(f"R={R:6d}  Triton fused (float64 weights) {rate64:,.0f} run-steps/s", flush=True)
    e2e_main(data, args.e2e_runs, args.gpu_steps, dev)
    R = args.e2e_runs
    eager = ensemble_rate(data, min(R, 1024), 64, device=dev, backend="torch")
    print(f"end to end train_ensemble R={min(R, 1024)}, T=64 (eager torch engine, full bookkeeping): "
          f"{eager:,.0f} run-steps/s")


def e2e_main(data, R: int, steps: int, dev: str) -> None:
    """`train_ensemble` end to end at two horizons: the rate, and the per-step (marginal) rate.

    The fixed part (snapshots at steps 0 and T: weights copied to the host, loss/error/flips over
    all n points per run) is paid once; the marginal part is the kernel plus the host drawing each
    run's sample order from its own NumPy stream (threads over the host's cores)."""
    from verify._ensemble import train_ensemble

    train_ensemble(data, _config(4), list(range(2)), device=dev)  # compile / warm
    secs = {}
    for T in (steps, 8 * steps):
        runs = train_ensemble(data, _config(T), list(range(R)), device=dev)
        secs[T] = runs[0].meta["ensemble"]["seconds_total"]
        del runs
        print(f"end to end train_ensemble R={R}, T={T} (default engine, host index streams): "
              f"{R * T / secs[T]:,.0f} run-steps/s ({secs[T]:.2f} s)", flush=True)
    T1, T2 = steps, 8 * steps
    marginal = R * (T2 - T1) / (secs[T2] - secs[T1])
    fixed = secs[T1] - R * T1 / marginal
    print(f"  marginal (per added step) {marginal:,.0f} run-steps/s; fixed part {fixed:.2f} s per ensemble")


def gpu_check(dev: str = "cuda", steps: int = 200) -> None:
    """The GPU engines against the CPU (numba) path, asserted.

    Trajectories are compared over a short horizon (200 steps at d=50, 100 neurons): there a
    float64 engine agrees with the CPU to ~1e-12 and a float32 one to ~1e-4. Over longer horizons
    any two summation orders separate — each σ' jump at a preactivation within rounding of 0
    turns a rounding difference into a real one, and this regime amplifies it (measured on the
    CPU: float64 PyTorch vs numba, 16 runs of 2000 steps, 9 of 16 separate by more than 1e-8
    between steps 637 and 1720) — so at 2000 steps the check compares distributions instead:
    the mean S_T over 64 seeds must agree within 4 standard errors.
    """
    from dataclasses import replace

    from verify._ensemble import train_ensemble

    data = verify.teacher_dataset(n=400, d=50, seed=0, margin=0.1)
    cfg = verify.TrainConfig(width=K, alpha=ALPHA, lr=0.05, steps=steps, snapshots=6)
    seeds = list(range(16))
    ref = train_ensemble(data, cfg, seeds)
    cases = [("triton", "float64", 1e-9), ("torch", "float64", 1e-9), ("triton", "float32", 2e-3),
             ("torch", "float32", 2e-3)]
    oks = []
    for backend, dtype, tol in cases:
        if backend == "triton" and not _have_triton(dev):
            print(f"check triton {dtype}: skipped (triton not importable here)")
            continue
        runs = train_ensemble(data, cfg, seeds, device=dev, backend=backend, dtype=dtype)
        dS = max(abs(a.trajectory.S - b.trajectory.S) / a.trajectory.S for a, b in zip(ref, runs))
        dW = max(np.max(np.abs(a.final.theta() - b.final.theta())) / np.max(np.abs(a.final.theta()))
                 for a, b in zip(ref, runs))
        dL = max(abs(a.trajectory.snap_train_loss[-1] - b.trajectory.snap_train_loss[-1])
                 / a.trajectory.snap_train_loss[-1] for a, b in zip(ref, runs))
        ok = dS <= tol and dW <= tol and dL <= tol
        oks.append(ok)
        print(f"check {backend:6s} {dtype} T={steps}: max rel. dev. S_T {dS:.2e}  weights {dW:.2e}  "
              f"final loss {dL:.2e}  (tolerance {tol:g}) {'ok' if ok else 'FAIL'}", flush=True)
    mb = replace(cfg, batch=8, sampling="epoch")
    a = train_ensemble(data, mb, seeds[:4])
    b = train_ensemble(data, mb, seeds[:4], device=dev, backend="torch", dtype="float64")
    dS = max(abs(x.trajectory.S - y.trajectory.S) / x.trajectory.S for x, y in zip(a, b))
    oks.append(dS <= 1e-9)
    print(f"check torch  float64 minibatch 8 / epoch: max rel. dev. S_T {dS:.2e} {'ok' if dS <= 1e-9 else 'FAIL'}")
    long = replace(cfg, steps=10 * steps, snapshots=0)
    many = list(range(64))
    S_cpu = np.array([r.trajectory.S for r in train_ensemble(data, long, many)])
    default = None if dev.startswith("cuda") else "torch"  # the CPU smoke run has no GPU engine
    S_dev = np.array([r.trajectory.S for r in train_ensemble(data, long, many, device=dev, dtype="float32",
                                                             backend=default)])
    se = np.sqrt((S_cpu.var(ddof=1) + S_dev.var(ddof=1)) / len(many))
    ok = abs(S_cpu.mean() - S_dev.mean()) <= 4 * se
    oks.append(ok)
    print(f"check default engine float32 T={10 * steps}, 64 seeds: mean S_T {S_dev.mean():.4g} vs CPU "
          f"{S_cpu.mean():.4g} (standard error {se:.2g}) {'ok' if ok else 'FAIL'}")
    if not all(oks):
        raise SystemExit(1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpu", action="store_true", help="benchmark on CUDA: Triton kernel vs eager PyTorch")
    ap.add_argument("--e2e", action="store_true", help="GPU: train_ensemble end to end, two horizons")
    ap.add_argument("--check", action="store_true", help="compare the CUDA engines with the CPU path")
    ap.add_argument("--kernel", action="store_true", help="CPU, one thread: the numba kernels alone")
    ap.add_argument("--runs", type=lambda s: [int(v) for v in s.split(",")], default=None)
    ap.add_argument("--steps", type=int, default=5000, help="CPU: steps per run of ours")
    ap.add_argument("--torch-steps", type=int, default=40_000, help="CPU: run-steps of the baseline per R")
    ap.add_argument("--gpu-steps", type=int, default=1024, help="GPU: steps per run")
    ap.add_argument("--base-steps", type=int, default=50, help="GPU: steps of the eager baseline")
    ap.add_argument("--e2e-runs", type=int, default=16384, help="GPU: runs of the end-to-end measurement")
    ap.add_argument("--device", default="cuda", help="for --gpu/--check (cpu only to smoke-test the script)")
    args = ap.parse_args()
    if args.kernel:
        kernel_main()
    elif args.check:
        gpu_check(args.device)
    elif args.e2e:
        e2e_main(verify.teacher_dataset(n=1000, d=50, seed=0), args.e2e_runs, args.gpu_steps, args.device)
    elif args.gpu:
        args.runs = args.runs or [1024, 16384, 65536]
        gpu_main(args)
    else:
        args.runs = args.runs or [64, 1024]
        cpu_main(args)


if __name__ == "__main__":
    main()
