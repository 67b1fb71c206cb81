"""Compiled inner loops of the trainer (numba, float64, no fastmath).

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

`sgd1_columns` is `sgd_chunk` for batch 1 without per-step records on transposed weights, with
the same floating-point operations in the same order (the ensemble's CPU engine; see there).
"""

from __future__ import annotations

import math

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
        yi = y[i]
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
        g = _expit_neg(z)
        loss = _softplus_neg(z)
        xx = xx_all[i]
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
        _bookkeeping(sums, counts, state, gthr, g_mean, gs_mean, gz_mean, sq_mean, loss_mean, shared, t_base + t)
        # after the last step the forward pass is not needed; computing it for x_i is harmless
        _cols_update_forward(Wt, X, i, idx[t + 1] if t + 1 < T else i, A, acc, P)
