"""The fused Triton kernel of the ensemble engine (`_ensemble_torch`, backend "triton").

One program per run: the run's weights (stored (R, D, M), neuron index fastest) are loaded once, kept in registers over a block of
`T` batch-1 SGD steps (THEORY.md §0), and written back at the end, with the same bookkeeping as
the trainer (running sums of g, g·s, g·z, g²‖x‖²Σσ'², ℓ; ε-exceedance counts; the last step and
count of steps whose σ' values were not shared within a sign). Imported only when that backend
runs: triton is an optional dependency.
"""

import triton
import triton.language as tl

__all__ = ["sgd_runs"]


@triton.jit
def _add2(a0, a1, b0, b1):
    return a0 + b0, a1 + b1


@triton.jit
def sgd_runs(X, Y, XX, W, IDX, SUMS, COUNTS, LAST, NFAIL, GTHR, PARAMS,
             T, t_base, n_eps, kp,
             M: tl.constexpr, D: tl.constexpr, MP: tl.constexpr, DP: tl.constexpr, EP: tl.constexpr):
    r = tl.program_id(0).to(tl.int64)
    rm = tl.arange(0, MP)
    rd = tl.arange(0, DP)
    mm = rm < M
    md = rd < D
    wmask = mm[:, None] & md[None, :]
    # each run's weights lie neuron-fastest, (D, M) in memory: the block's contiguous axis is then
    # the neuron axis, so Triton spreads the neurons over a warp's lanes and the reduction over
    # the inputs stays inside each thread (then across warps), with no lane shuffles
    wptr = W + r * (M * D) + rd[None, :] * M + rm[:, None]
    w = tl.load(wptr, mask=wmask, other=0.0)
    is_pos = rm < kp
    is_neg = (rm >= kp) & mm
    sign = tl.where(is_pos, 1.0, tl.where(is_neg, -1.0, 0.0)).to(w.dtype)
    # active neurons of each sign counted in one integer: positive ones in the low 16 bits
    # (M < 2¹⁶ is checked on the host), negative ones above
    code_of = tl.where(is_pos, 1, tl.where(is_neg, 65536, 0))
    alpha64 = tl.load(PARAMS)
    alpha = alpha64.to(w.dtype)
    lr = tl.load(PARAMS + 1).to(w.dtype)
    re = tl.arange(0, EP)
    me = re < n_eps
    gthr = tl.load(GTHR + re, mask=me, other=2.0)  # g < 1 never exceeds the padding
    cnt = tl.load(COUNTS + r * n_eps + re, mask=me, other=0)
    s_g = tl.load(SUMS + r * 5 + 0)
    s_gs = tl.load(SUMS + r * 5 + 1)
    s_gz = tl.load(SUMS + r * 5 + 2)
    s_sq = tl.load(SUMS + r * 5 + 3)
    s_l = tl.load(SUMS + r * 5 + 4)
    last = tl.load(LAST + r)
    nfail = tl.load(NFAIL + r)
    base = IDX + r * T
    # software pipelining: the sample of step t+1 (and the index of step t+2) is loaded while
    # step t computes, so the dependent loads index → row are off the critical path
    i_c = tl.load(base).to(tl.int64)
    x_c = tl.load(X + i_c * D + rd, mask=md, other=0.0)
    y_c = tl.load(Y + i_c)
    xx_c = tl.load(XX + i_c)
    i_n = tl.load(base + 1, mask=T > 1, other=0)
    # a while loop, not `range(T)`: Triton's interpreter cannot take a runtime bound for
    # `range` under NumPy ≥ 2.4 (it calls int() on a one-element array)
    t = 0
    while t < T:
        i_n64 = i_n.to(tl.int64)
        x_n = tl.load(X + i_n64 * D + rd, mask=md, other=0.0)
        y_n = tl.load(Y + i_n64)
        xx_n = tl.load(XX + i_n64)
        i_nn = tl.load(base + t + 2, mask=t + 2 < T, other=0)
        pre = tl.sum(w * x_c[None, :], axis=1)
        pos = pre > 0
        sp = tl.where(pos, 1.0, alpha).to(w.dtype)
        # N(x) (σ(p) = σ'(p)·p) and the active counts in one reduction over the neurons
        out, code = tl.reduce((tl.where(mm, sign * sp * pre, 0.0), tl.where(pos, code_of, 0)), 0, _add2)
        npos = code & 65535
        nneg = code >> 16
        fail = ((npos > 0) & (npos < kp)) | ((nneg > 0) & (nneg < M - kp))
        na = (npos + nneg).to(tl.float64)
        s = na + (M - na) * alpha64
        s2 = na + (M - na) * (alpha64 * alpha64)
        # g and ℓ in the weights' precision (z has no more digits than that), summed in float64
        z = y_c * out
        e = tl.exp(-tl.abs(z))
        onep = 1.0 + e
        g = tl.where(z >= 0, e / onep, 1.0 / onep)
        # log1p(e) to full precision without libdevice: log(1+e)·e/((1+e)−1)
        l1p = tl.where(onep == 1.0, e, tl.log(onep) * e / tl.where(onep == 1.0, 1.0, onep - 1.0))
        loss = tl.maximum(-z, 0.0) + l1p
        coef = lr * g * y_c
        w += (coef * sp * sign)[:, None] * x_c[None, :]
        g64 = g.to(tl.float64)
        s_g += g64
        s_gs += g64 * s
        s_gz += g64 * z.to(tl.float64)
        s_sq += g64 * g64 * xx_c * s2
        s_l += loss.to(tl.float64)
        cnt += (g64 > gthr).to(tl.int64)
        last = tl.where(fail, t_base + t, last)
        nfail += fail.to(tl.int64)
        x_c = x_n
        y_c = y_n
        xx_c = xx_n
        i_n = i_nn
        t += 1
    tl.store(wptr, w, mask=wmask)
    tl.store(SUMS + r * 5 + 0, s_g)
    tl.store(SUMS + r * 5 + 1, s_gs)
    tl.store(SUMS + r * 5 + 2, s_gz)
    tl.store(SUMS + r * 5 + 3, s_sq)
    tl.store(SUMS + r * 5 + 4, s_l)
    tl.store(COUNTS + r * n_eps + re, cnt, mask=me)
    tl.store(LAST + r, last)
    tl.store(NFAIL + r, nfail)

