"""Compiled inner loops of the trainer (numba, float64, no fastmath; one opt-in float32 kernel).

The kernels perform exactly the updates of THEORY.md §0 and accumulate the running sums
that the theorems need. They are pure functions of their arguments: randomness (the
sampled indices) comes in as an array, so an ensemble of runs can reuse them and match
single runs bit for bit.

Sums slots (`sums[...]`), all accumulated in float64:
    0 S        Σ g_t                      (cumulative gradient weight, Theorem 1)
    1 S_prime  Σ g_t s_t                  (s_t = Σ σ' over all m neurons)
    2 sum_gz   Σ g_t z_t                  (L3)
    3 sum_sq   Σ g_t² ‖x‖² Σσ'²           (the exact second-order term of L2, over η²)
    4 sum_loss Σ ℓ_t                      (sampled losses, Corollary 2)
For minibatches each per-step quantity is the batch mean.

`sgd1_columns` (single runs) and `sgd1_blocks` (ensembles) are `sgd_chunk` for batch 1 without
per-step records, on transposed and on lane-blocked weights, with the same floating-point
operations in the same order. `sgd1_blocks32` is the ensembles' opt-in float32 variant: the same
update in float32 with float64 running sums, not the same bits.
"""

from __future__ import annotations

import math
import threading

import numba as nb
import numpy as np

N_SUMS = 5


@nb.njit(cache=True, inline="always")
def _expit_neg(z):
    # g(z) = 1/(1+e^z), stable for both signs
    if z >= 0.0:
        e = math.exp(-z)
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(z))


@nb.njit(cache=True, inline="always")
def _softplus_neg(z):
    # ℓ(z) = log(1+e^{-z}) = max(-z,0) + log1p(e^{-|z|})
    return max(-z, 0.0) + math.log1p(math.exp(-abs(z)))


@nb.njit(cache=True, inline="always")
def _dot_row(W, j, X, i, d):
    # four independent accumulators: the same fixed summation order every call (so runs
    # are reproducible bit for bit) without a serial dependency chain over d products
    d4 = d - d % 4
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    for c in range(0, d4, 4):
        a0 += W[j, c] * X[i, c]
        a1 += W[j, c + 1] * X[i, c + 1]
        a2 += W[j, c + 2] * X[i, c + 2]
        a3 += W[j, c + 3] * X[i, c + 3]
    for c in range(d4, d):
        a0 += W[j, c] * X[i, c]
    return (a0 + a1) + (a2 + a3)


@nb.njit(cache=True, inline="always")
def _bookkeeping(sums, counts, state, gthr, g, gs, gz, sq, loss, shared, step):
    # the running sums, ε counts and Theorem 3's shared-σ' record after one step
    sums[0] += g
    sums[1] += gs
    sums[2] += gz
    sums[3] += sq
    sums[4] += loss
    for k in range(gthr.shape[0]):
        if g > gthr[k]:
            counts[k] += 1
    if not shared:
        state[0] = step
        state[1] += 1


@nb.njit(cache=True)
def sgd_chunk(X, y, Wp, Wn, alpha, lr, idx, ref, sums, gthr, counts, state,
              rec_on, t_base, rec_idx, rec_z, rec_g, rec_s, rec_norm2, rec_align, xx_all):
    """Run `idx.shape[0]` steps of (minibatch) SGD in place on Wp, Wn.

    Args:
        idx: (T, b) sampled indices; b = 1 is plain SGD.
        ref: unit reference direction w* as a (1, d) array, or (0, d); used for the recorded alignment.
        sums: float64[N_SUMS] running sums (updated in place).
        gthr: thresholds on g (g > 1 − e^{−ε} ⇔ ℓ > ε); counts[k] counts steps above gthr[k].
        state: int64[2]: last step whose σ' values were not shared within a sign (−1 if
            none), and how many such steps there were.
        rec_on: record per-step arrays at positions t_base + t.
        xx_all: ‖x_i‖² for every training point.
    """
    T, b = idx.shape
    kp, d = Wp.shape
    kn = Wn.shape[0]
    sp = np.empty(kp)
    sn = np.empty(kn)
    Gp = np.zeros((kp, d))
    Gn = np.zeros((kn, d))
    has_ref = ref.shape[0] == 1
    inv_b = 1.0 / b
    for t in range(T):
        if rec_on:
            nrm = 0.0
            al = 0.0
            for j in range(kp):
                nrm += _dot_row(Wp, j, Wp, j, d)
                if has_ref:
                    al += _dot_row(Wp, j, ref, 0, d)
            for j in range(kn):
                nrm += _dot_row(Wn, j, Wn, j, d)
                if has_ref:
                    al -= _dot_row(Wn, j, ref, 0, d)
            rec_norm2[t_base + t] = nrm
            rec_align[t_base + t] = al
        g_mean = 0.0
        gs_mean = 0.0
        gz_mean = 0.0
        sq_mean = 0.0
        loss_mean = 0.0
        shared = True
        for r in range(b):
            i = idx[t, r]
            yi = y[i]
            out = 0.0
            s = 0.0
            s2 = 0.0
            for j in range(kp):
                p = _dot_row(Wp, j, X, i, d)
                if p > 0.0:
                    sp[j] = 1.0
                    out += p
                else:
                    sp[j] = alpha
                    out += alpha * p
                s += sp[j]
                s2 += sp[j] * sp[j]
            for j in range(kn):
                q = _dot_row(Wn, j, X, i, d)
                if q > 0.0:
                    sn[j] = 1.0
                    out -= q
                else:
                    sn[j] = alpha
                    out -= alpha * q
                s += sn[j]
                s2 += sn[j] * sn[j]
            z = yi * out
            g = _expit_neg(z)
            loss = _softplus_neg(z)
            xx = xx_all[i]
            for j in range(1, kp):
                if sp[j] != sp[0]:
                    shared = False
            for j in range(1, kn):
                if sn[j] != sn[0]:
                    shared = False
            g_mean += g
            gs_mean += g * s
            gz_mean += g * z
            sq_mean += g * g * xx * s2
            loss_mean += loss
            coef = lr * g * yi
            if b == 1:
                for j in range(kp):
                    a = coef * sp[j]
                    for c in range(d):
                        Wp[j, c] += a * X[i, c]
                for j in range(kn):
                    a = coef * sn[j]
                    for c in range(d):
                        Wn[j, c] -= a * X[i, c]
                if rec_on:
                    rec_idx[t_base + t] = i
                    rec_z[t_base + t] = z
                    rec_g[t_base + t] = g
                    rec_s[t_base + t] = s
            else:
                for j in range(kp):
                    a = coef * sp[j] * inv_b
                    for c in range(d):
                        Gp[j, c] += a * X[i, c]
                for j in range(kn):
                    a = coef * sn[j] * inv_b
                    for c in range(d):
                        Gn[j, c] += a * X[i, c]
        if b > 1:
            for j in range(kp):
                for c in range(d):
                    Wp[j, c] += Gp[j, c]
                    Gp[j, c] = 0.0
            for j in range(kn):
                for c in range(d):
                    Wn[j, c] -= Gn[j, c]
                    Gn[j, c] = 0.0
            g_mean *= inv_b
            gs_mean *= inv_b
            gz_mean *= inv_b
            sq_mean *= inv_b
            loss_mean *= inv_b
        _bookkeeping(sums, counts, state, gthr, g_mean, gs_mean, gz_mean, sq_mean, loss_mean, shared, t_base + t)


def empty_records():
    """Zero-length per-step buffers, for runs that do not record per step."""
    return (np.empty(0, np.int64), np.empty(0), np.empty(0), np.empty(0), np.empty(0), np.empty(0))


# ---- ensembles: batch-1 SGD with the neurons as the vector dimension ------------------------
# The same arithmetic as `sgd_chunk` (b = 1, no per-step records), operation for operation, on
# the transposed weights Wt[c, j] (column c of every neuron contiguous). Neuron j's dot product
# still runs over c in `_dot_row`'s order — accumulator k takes the columns c ≡ k mod 4 in
# increasing c, the tail goes to accumulator 0, and the four are summed as (0 + 1) + (2 + 3) —
# but the loop over c is outside and the loop over the m neurons inside: m independent
# accumulations that the compiler packs into SIMD vectors without reordering any neuron's sum.
# The update of step t and the forward pass of step t + 1 share one sweep over the weights.


@nb.njit(cache=True, inline="always")
def _col_dot(wr, ar, v, m):
    for j in range(m):
        ar[j] += wr[j] * v


@nb.njit(cache=True, inline="always")
def _col_update_dot(wr, A, ar, u, v, m):
    # one loop that updates a weight and at once adds its product for the next step's dot
    for j in range(m):
        w = wr[j] + A[j] * u
        wr[j] = w
        ar[j] += w * v


@nb.njit(cache=True, inline="always")
def _cols_forward(Wt, X, i, acc, P):
    # P[j] = ⟨w_j, x_i⟩ in `_dot_row`'s order. The columns are unrolled by four, so that each
    # inner loop sees one fixed accumulator row (with a row chosen at run time the compiler
    # does not vectorize the fused loop below; measured).
    d, m = Wt.shape
    d4 = d - d % 4
    acc[:, :] = 0.0
    a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
    x = X[i]
    for c in range(0, d4, 4):
        _col_dot(Wt[c], a0, x[c], m)
        _col_dot(Wt[c + 1], a1, x[c + 1], m)
        _col_dot(Wt[c + 2], a2, x[c + 2], m)
        _col_dot(Wt[c + 3], a3, x[c + 3], m)
    for c in range(d4, d):
        _col_dot(Wt[c], a0, x[c], m)
    for j in range(m):
        P[j] = (a0[j] + a1[j]) + (a2[j] + a3[j])


@nb.njit(cache=True, inline="always")
def _cols_update_forward(Wt, X, i, inext, A, acc, P):
    # Wt[c, j] += A[j]·x_i[c] (A signed: W − a·x = W + (−a)·x exactly in IEEE arithmetic), and in
    # the same sweep the preactivations ⟨w_j, x_inext⟩ of the next step from the new weights
    d, m = Wt.shape
    d4 = d - d % 4
    acc[:, :] = 0.0
    a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
    xi, xn = X[i], X[inext]
    for c in range(0, d4, 4):
        _col_update_dot(Wt[c], A, a0, xi[c], xn[c], m)
        _col_update_dot(Wt[c + 1], A, a1, xi[c + 1], xn[c + 1], m)
        _col_update_dot(Wt[c + 2], A, a2, xi[c + 2], xn[c + 2], m)
        _col_update_dot(Wt[c + 3], A, a3, xi[c + 3], xn[c + 3], m)
    for c in range(d4, d):
        _col_update_dot(Wt[c], A, a0, xi[c], xn[c], m)
    for j in range(m):
        P[j] = (a0[j] + a1[j]) + (a2[j] + a3[j])


@nb.njit(cache=True, inline="always")
def _g_and_loss(z):
    # `_expit_neg(z)` and `_softplus_neg(z)` from one exponential: both use e^{−|z|} (for z ≥ 0
    # that is e^{−z}, for z < 0 it is e^{z}, the same argument bit for bit), so the same values
    e = math.exp(-abs(z))
    g = e / (1.0 + e) if z >= 0.0 else 1.0 / (1.0 + e)
    return g, max(-z, 0.0) + math.log1p(e)


@nb.njit(cache=True, inline="always")
def _step1_scalars(P, sp, A, kp, m, alpha, lr, yi, xx, sums, counts, state, gthr, step):
    """The scalar part of one batch-1 step of `sgd_chunk`, operation for operation, given the
    preactivations P of the m neurons (positive ones first): σ' into sp, the bookkeeping, and
    the update coefficients A (`w_j += A_j·x`; negative for the u_j)."""
    out = 0.0
    s = 0.0
    s2 = 0.0
    # σ' by selection, not by branch (the signs of the preactivations are unpredictable);
    # `sgd_chunk` adds p where σ' = 1, and 1.0·p is p exactly, so v·p is the same number
    for j in range(kp):
        p = P[j]
        v = 1.0 if p > 0.0 else alpha
        sp[j] = v
        out += v * p
        s += v
        s2 += v * v
    for j in range(kp, m):
        q = P[j]
        v = 1.0 if q > 0.0 else alpha
        sp[j] = v
        out -= v * q
        s += v
        s2 += v * v
    z = yi * out
    g, loss = _g_and_loss(z)
    shared = True
    for j in range(1, kp):
        if sp[j] != sp[0]:
            shared = False
    for j in range(kp + 1, m):
        if sp[j] != sp[kp]:
            shared = False
    # `sgd_chunk` accumulates the (batch-)means from 0.0 before adding them to the sums
    g_mean = 0.0
    gs_mean = 0.0
    gz_mean = 0.0
    sq_mean = 0.0
    loss_mean = 0.0
    g_mean += g
    gs_mean += g * s
    gz_mean += g * z
    sq_mean += g * g * xx * s2
    loss_mean += loss
    coef = lr * g * yi
    for j in range(kp):
        A[j] = coef * sp[j]
    for j in range(kp, m):
        A[j] = -(coef * sp[j])
    _bookkeeping(sums, counts, state, gthr, g_mean, gs_mean, gz_mean, sq_mean, loss_mean, shared, step)


@nb.njit(cache=True)
def sgd1_columns(X, y, Wt, kp, alpha, lr, idx, sums, gthr, counts, state, t_base, xx_all):
    """`sgd_chunk` for batch 1 without per-step records, on transposed weights; the same bits.

    Args:
        Wt: (d, m) weights, column j < kp the positive neuron w_j, column kp + j the negative u_j; in place.
        idx: (T,) sampled indices.
        sums, counts, state: as in `sgd_chunk`.
        xx_all: ‖x_i‖² for every training point.
    """
    T = idx.shape[0]
    m = Wt.shape[1]
    acc = np.empty((4, m))
    P = np.empty(m)
    A = np.empty(m)
    sp = np.empty(m)
    if T == 0:
        return
    _cols_forward(Wt, X, idx[0], acc, P)
    for t in range(T):
        # the per-step arithmetic of `sgd_chunk` for b = 1, operation for operation
        i = idx[t]
        _step1_scalars(P, sp, A, kp, m, alpha, lr, y[i], xx_all[i], sums, counts, state, gthr, t_base + t)
        # after the last step the forward pass is not needed; computing it for x_i is harmless
        _cols_update_forward(Wt, X, i, idx[t + 1] if t + 1 < T else i, A, acc, P)


# ---- ensembles: neurons in blocks of LANES held in vector registers ---------------------------
# `sgd1_columns` keeps the next step's four dot-product accumulators of all m neurons in memory,
# so every weight costs three loads and two stores per step. Here the neurons come in blocks of
# LANES (neuron j = LANES·b + l is column l of block b, weights Wb[b, c, l]); a block's update
# coefficients and its four accumulators are tuples of LANES scalars, which stay in registers
# over the whole sweep of the block's d columns: one load and one store per weight. The compiler
# packs each tuple operation into one vector operation when its SLP vectorizer runs (see
# `run_vectorized`). Per neuron the operations and their order are exactly those of
# `sgd1_columns`, so in float64 the results are the same bits (tested against `train`).
# Eight float64 lanes are one 512-bit vector; measured on a 2-core AMD EPYC (AVX-512), blocks
# of 4 or 16 were slower.

LANES = 8  # the width of the tuples below, which are written out lane by lane
_SLP_LOCK = threading.Lock()


def run_vectorized(kernel, *args):
    """Call a numba `kernel` compiled with LLVM's SLP vectorizer, which numba leaves off by default.

    The lane-blocked kernels need it to turn their tuples into vector instructions (without it
    their sweep runs scalar, about five times slower; measured). The setting is read when a
    signature is compiled, so it is switched on only while a new signature compiles (or loads
    from numba's cache; that first call holds a lock); vectorizing never changes a
    floating-point result (each lane performs the scalar operation), only its speed.
    """
    key = tuple(nb.typeof(a) for a in args)
    if key in kernel.overloads:
        return kernel(*args)
    with _SLP_LOCK:
        old = nb.config.SLP_VECTORIZE
        nb.config.SLP_VECTORIZE = 1
        try:
            return kernel(*args)
        finally:
            nb.config.SLP_VECTORIZE = old


@nb.njit(cache=True, inline="always")
def _lanes(a, o):
    return (a[o], a[o + 1], a[o + 2], a[o + 3], a[o + 4], a[o + 5], a[o + 6], a[o + 7])


@nb.njit(cache=True, inline="always")
def _lanes_dot(r, acc, v):
    return (acc[0] + r[0] * v, acc[1] + r[1] * v, acc[2] + r[2] * v, acc[3] + r[3] * v,
            acc[4] + r[4] * v, acc[5] + r[5] * v, acc[6] + r[6] * v, acc[7] + r[7] * v)


@nb.njit(cache=True, inline="always")
def _lanes_update_dot(r, a, acc, u, v):
    # r[l] += a[l]·u (as `_col_update_dot`: product, then sum), and acc[l] + r[l]·v of the new r
    w0 = r[0] + a[0] * u
    w1 = r[1] + a[1] * u
    w2 = r[2] + a[2] * u
    w3 = r[3] + a[3] * u
    w4 = r[4] + a[4] * u
    w5 = r[5] + a[5] * u
    w6 = r[6] + a[6] * u
    w7 = r[7] + a[7] * u
    r[0] = w0
    r[1] = w1
    r[2] = w2
    r[3] = w3
    r[4] = w4
    r[5] = w5
    r[6] = w6
    r[7] = w7
    return (acc[0] + w0 * v, acc[1] + w1 * v, acc[2] + w2 * v, acc[3] + w3 * v,
            acc[4] + w4 * v, acc[5] + w5 * v, acc[6] + w6 * v, acc[7] + w7 * v)


@nb.njit(cache=True, inline="always")
def _lanes_store_sum(P, o, a0, a1, a2, a3):
    # `_dot_row`'s final combination (a0 + a1) + (a2 + a3), lane by lane
    for l in range(LANES):
        P[o + l] = (a0[l] + a1[l]) + (a2[l] + a3[l])


@nb.njit(cache=True, inline="always")
def _blocks_forward(Wb, X, i, P, zero):
    # P[j] = ⟨w_j, x_i⟩ in `_dot_row`'s order; `zero` is 0 in the weights' precision
    nblk, d, _ = Wb.shape
    d4 = d - d % 4
    x = X[i]
    z = (zero, zero, zero, zero, zero, zero, zero, zero)
    for b in range(nblk):
        W = Wb[b]
        a0, a1, a2, a3 = z, z, z, z
        for c in range(0, d4, 4):
            a0 = _lanes_dot(W[c], a0, x[c])
            a1 = _lanes_dot(W[c + 1], a1, x[c + 1])
            a2 = _lanes_dot(W[c + 2], a2, x[c + 2])
            a3 = _lanes_dot(W[c + 3], a3, x[c + 3])
        for c in range(d4, d):
            a0 = _lanes_dot(W[c], a0, x[c])
        _lanes_store_sum(P, b * LANES, a0, a1, a2, a3)


@nb.njit(cache=True, inline="always")
def _blocks_update_forward(Wb, X, i, inext, A, P, zero):
    # w_j += A[j]·x_i for every neuron, and in the same sweep P[j] = ⟨w_j, x_inext⟩ of the new weights
    nblk, d, _ = Wb.shape
    d4 = d - d % 4
    xi, xn = X[i], X[inext]
    z = (zero, zero, zero, zero, zero, zero, zero, zero)
    for b in range(nblk):
        W = Wb[b]
        a = _lanes(A, b * LANES)
        a0, a1, a2, a3 = z, z, z, z
        for c in range(0, d4, 4):
            a0 = _lanes_update_dot(W[c], a, a0, xi[c], xn[c])
            a1 = _lanes_update_dot(W[c + 1], a, a1, xi[c + 1], xn[c + 1])
            a2 = _lanes_update_dot(W[c + 2], a, a2, xi[c + 2], xn[c + 2])
            a3 = _lanes_update_dot(W[c + 3], a, a3, xi[c + 3], xn[c + 3])
        for c in range(d4, d):
            a0 = _lanes_update_dot(W[c], a, a0, xi[c], xn[c])
        _lanes_store_sum(P, b * LANES, a0, a1, a2, a3)


@nb.njit(cache=True)
def sgd1_blocks(X, y, Wb, kp, m, alpha, lr, idx, sums, gthr, counts, state, t_base, xx_all):
    """`sgd1_columns` on lane-blocked float64 weights; the same bits.

    Args:
        Wb: (ceil(m/LANES), d, LANES) weights, neuron j = LANES·b + l at Wb[b, :, l]: j < kp the
            positive neurons w_j, kp ≤ j < m the negative u_{j−kp}, j ≥ m zero padding (in place;
            the padding stays zero).
        idx: (T,) sampled indices.
        sums, counts, state: as in `sgd_chunk`.
        xx_all: ‖x_i‖² for every training point.
    """
    T = idx.shape[0]
    mp = Wb.shape[0] * LANES
    P = np.empty(mp)
    A = np.zeros(mp)  # the padding's coefficients stay 0
    sp = np.empty(m)
    if T == 0:
        return
    _blocks_forward(Wb, X, idx[0], P, 0.0)
    for t in range(T):
        i = idx[t]
        _step1_scalars(P, sp, A, kp, m, alpha, lr, y[i], xx_all[i], sums, counts, state, gthr, t_base + t)
        _blocks_update_forward(Wb, X, i, idx[t + 1] if t + 1 < T else i, A, P, 0.0)


@nb.njit(cache=True, fastmath={"reassoc", "nsz", "contract"})
def _output32(P, kp, m, alpha):
    # N(x) = Σ_{j<kp} σ(P_j) − Σ_{kp≤j<m} σ(P_j) and the active counts of each sign, float32;
    # reassociation lets the compiler vectorize the sums (the float32 engine does not
    # reproduce `train` bit for bit, so nothing is lost)
    out = np.float32(0.0)
    npos = 0
    nneg = 0
    for j in range(kp):
        p = P[j]
        if p > 0:
            out += p
            npos += 1
        else:
            out += alpha * p
    for j in range(kp, m):
        q = P[j]
        if q > 0:
            out -= q
            nneg += 1
        else:
            out -= alpha * q
    return out, npos, nneg


@nb.njit(cache=True)
def sgd1_blocks32(X32, y, Wb, kp, m, alpha, lr, idx, sums, gthr, counts, state, t_base, xx_all):
    """Batch-1 SGD on lane-blocked float32 weights: the update of `sgd1_blocks`, not its bits.

    Weights, data `X32`, preactivations, N(x) and the update coefficients are float32 (sums
    reassociated); z, g, ℓ, s, Σσ'² and the running sums are float64 from N(x) and the exact
    active counts. Close to the float64 path over short horizons, and the same in
    distribution over long ones (σ' jumps turn rounding differences into different
    trajectories; see `verify._ensemble`). Arguments as in `sgd1_blocks`.
    """
    T = idx.shape[0]
    mp = Wb.shape[0] * LANES
    kn = m - kp
    a32 = np.float32(alpha)
    P = np.empty(mp, dtype=np.float32)
    A = np.zeros(mp, dtype=np.float32)
    if T == 0:
        return
    _blocks_forward(Wb, X32, idx[0], P, np.float32(0.0))
    for t in range(T):
        i = idx[t]
        yi = y[i]
        out, npos, nneg = _output32(P, kp, m, a32)
        z = yi * np.float64(out)
        g, loss = _g_and_loss(z)
        na = npos + nneg
        s = na + (m - na) * alpha
        s2 = na + (m - na) * (alpha * alpha)
        shared = (npos == 0 or npos == kp) and (nneg == 0 or nneg == kn)
        coef = lr * g * yi
        c1 = np.float32(coef)
        ca = np.float32(coef * alpha)
        for j in range(kp):
            A[j] = c1 if P[j] > 0 else ca
        for j in range(kp, m):
            A[j] = -c1 if P[j] > 0 else -ca
        _bookkeeping(sums, counts, state, gthr, g, g * s, g * z, g * g * xx_all[i] * s2, loss, shared, t_base + t)
        _blocks_update_forward(Wb, X32, i, idx[t + 1] if t + 1 < T else i, A, P, np.float32(0.0))
