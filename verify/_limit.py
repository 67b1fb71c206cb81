"""The predicted limit direction of a clustered network (THEORY.md §6).

If on every training point `⟨w_j,x_i⟩ > 0 ⇔ y_i = +1` and `⟨u_j,x_i⟩ > 0 ⇔ y_i = −1`, the
network is linear on the training set in `W = Σw_j`, `U = Σu_j`:
`y_i N(x_i) = ⟨W − αU, x_i⟩` for `y_i = +1` and `⟨U − αW, x_i⟩` for `y_i = −1`. With
`P = W − U`, `Q = W + U` both cases read

    y_i N(x_i) = ½[(1+α) y_i⟨P,x_i⟩ + (1−α)⟨Q,x_i⟩],

and `‖θ‖²` is smallest, for given `W, U`, when the neurons of a sign are equal, where it is
`(‖W‖² + ‖U‖²)/k = (‖P‖² + ‖Q‖²)/(2k)`. Gradient descent on a separable linear logistic
problem converges in direction to its max-margin solution (Soudry et al. 2018; Nacson et
al. 2019 for SGD with a small step), so the limit is the solution of the QP

    min ‖P‖² + ‖Q‖²   s.t.   (1+α) y_i⟨P,x_i⟩ + (1−α)⟨Q,x_i⟩ ≥ 2   for all i,

solved here with cvxpy and Clarabel, and the limiting decision direction is `P*/‖P*‖`.
The aligned pattern can only persist if it is **self-consistent**:
`⟨W*,x_i⟩ > 0 > ⟨U*,x_i⟩` for `y_i = +1` and the reverse for `y_i = −1`, which with
`W = (P+Q)/2`, `U = (Q−P)/2` is `y_i⟨P*,x_i⟩ > |⟨Q*,x_i⟩|` for every i; otherwise the
prediction does not apply and `self_consistent` is False. `P* ∥ w_svm` iff `Q* = 0`.

The counterexample `X = [(0,−1), (−1,−1), (1,1)]`, `y = (+,+,−)`, α = 0.1 has
`w_svm = (0,−1)` and `P* ≈ (−0.4455, −1.4464)`, 17.1° apart, self-consistent: the network
does not converge to the input-space max-margin separator.
"""

from __future__ import annotations

import numpy as np

from ._data import Dataset
from ._errors import InputError
from ._network import Network, check_alpha
from ._network import network_direction  # noqa: F401  (re-exported: part of this module's API)

__all__ = ["predicted_limit", "angle_deg", "network_direction", "limit_angles", "COUNTEREXAMPLE"]

# THEORY.md §6's three points: (X, y, alpha)
COUNTEREXAMPLE = (np.array([[0.0, -1.0], [-1.0, -1.0], [1.0, 1.0]]), np.array([1.0, 1.0, -1.0]), 0.1)


def angle_deg(a, b) -> float:
    """Angle between two nonzero vectors in degrees (NaN when either is zero)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return float("nan")
    c = float(np.clip(a @ b / (na * nb), -1.0, 1.0))
    # arctan2 of (|a×b|, a·b) keeps precision for nearly parallel vectors, where arccos loses it
    s = np.linalg.norm(np.outer(a, b) - np.outer(b, a)) / np.sqrt(2.0) / (na * nb)
    return float(np.degrees(np.arctan2(s, c)))


def predicted_limit(data: Dataset, alpha: float) -> dict:
    """Solve THEORY.md §6's pattern-constrained QP and test its self-consistency.

    Args:
        data: training set (homogeneous: append a constant column first for biases).
        alpha: the leak α ∈ (0, 1).

    Returns:
        `P`, `Q` (the QP solution), `W`, `U` (`(P+Q)/2`, `(Q−P)/2`: the summed neuron vectors
        of the limit, up to scale), `direction` (`P/‖P‖`), `self_consistent` (bool),
        `margin_slack` (`min_i (y_i⟨P,x_i⟩ − |⟨Q,x_i⟩|)/‖P‖`, > 0 iff self-consistent),
        `q_ratio` (`‖Q‖/‖P‖`), `objective`, `status`.

    Raises:
        InputError: α outside (0,1), or the QP is infeasible (the data are not linearly
            separable through the origin).
    """
    import cvxpy as cp

    a = check_alpha(alpha)
    X, y = data.X, data.y
    d = X.shape[1]
    # scale so that the solver works near unit size; the solution scales back exactly (1/s)
    scale = float(np.max(np.linalg.norm(X, axis=1)))
    Xs = X / scale
    P = cp.Variable(d)
    Qv = cp.Variable(d)
    cons = [(1 + a) * cp.multiply(y, Xs @ P) + (1 - a) * (Xs @ Qv) >= 2]
    prob = cp.Problem(cp.Minimize(cp.sum_squares(P) + cp.sum_squares(Qv)), cons)
    try:
        prob.solve(solver=cp.CLARABEL)
    except cp.error.SolverError as exc:
        raise InputError(f"the limit-direction QP failed ({exc})") from None
    if prob.status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
        raise InputError(f"{data.source}: no (P, Q) meets the margin constraints — the data are not "
                         "linearly separable through the origin (append a bias column?)")
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or P.value is None:
        raise InputError(f"the limit-direction QP ended with status {prob.status}")
    Pv = np.asarray(P.value, dtype=np.float64) / scale
    Qn = np.asarray(Qv.value, dtype=np.float64) / scale
    normP = float(np.linalg.norm(Pv))
    slack = (y * (X @ Pv) - np.abs(X @ Qn)) / normP
    return {
        "P": Pv,
        "Q": Qn,
        "W": (Pv + Qn) / 2,
        "U": (Qn - Pv) / 2,
        "direction": Pv / normP,
        "self_consistent": bool(np.all(slack > 0)),
        "margin_slack": float(slack.min()),
        "q_ratio": float(np.linalg.norm(Qn) / normP),
        "objective": float(Pv @ Pv + Qn @ Qn),
        "status": prob.status,
    }


def limit_angles(net: Network, data: Dataset, *, teacher=None) -> dict:
    """Angles (degrees) between the network direction, `P*`, the SVM direction and the teacher.

    When the network has a bias input the data are lifted (constant column appended), so
    `P*` and the SVM are the biased ones and a teacher is extended by a 0 bias.

    Args:
        net: the network; its α is used for the QP.
        data: its training set.
        teacher: a reference direction (defaults to `data.teacher` when known).

    Returns:
        `{"angles_deg": {pair: degrees}, "predicted_limit": predicted_limit(...),
        "directions": {name: unit vector}}` with pairs among `network`, `P*`, `svm`,
        `teacher`.
    """
    from ._margin import max_margin

    X = net.lift(data.X)
    lifted = Dataset(X, data.y, source=data.source)
    lim = predicted_limit(lifted, net.alpha)
    mm = max_margin(lifted)
    if not mm.separable:
        raise InputError(f"{data.source}: not linearly separable, there is no SVM direction")
    dirs = {"network": network_direction(net), "P*": lim["direction"],
            "svm": np.asarray(mm.direction, dtype=np.float64)}
    t = data.teacher if teacher is None else teacher
    if t is not None:
        t = np.asarray(t, dtype=np.float64).ravel()
        if t.shape[0] == X.shape[1] - 1 and net.input_bias:
            t = np.append(t, 0.0)
        if t.shape[0] != X.shape[1] or not np.any(t):
            raise InputError(f"teacher has length {t.shape[0]}, the network's inputs {X.shape[1]}")
        dirs["teacher"] = t / np.linalg.norm(t)
    names = list(dirs)
    angles = {f"{a}-{b}": angle_deg(dirs[a], dirs[b]) for i, a in enumerate(names) for b in names[i + 1:]}
    return {"angles_deg": angles, "predicted_limit": lim, "directions": dirs}
