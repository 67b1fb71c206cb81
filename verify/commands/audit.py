"""`verify audit NET [--data DATA] [--test DATA] [--alpha A] [--run RUN.npz] [--report DIR] [--exact] [--json]`.

NET is a run `.npz`, a paper-form `.npz`, or a PyTorch `.pt`/`.safetensors` state dict
(which needs `--alpha`). A run brings its own training data (used when `--data` is absent)
and its snapshots (β(t), cluster counts); `--run` adds the snapshots of another run file.
"""

from __future__ import annotations

from ..cli import emit
from ._common import add_json


def register(sub) -> None:
    p = sub.add_parser("audit", help="how linear, how clustered, how close to the max-margin separator")
    p.add_argument("net", metavar="NET", help="run .npz, paper-form .npz, or .pt/.safetensors state dict")
    p.add_argument("--data", help="training data (default: the data stored in a run)")
    p.add_argument("--test", help="test data for certified fractions")
    p.add_argument("--labels01", action="store_true", help="map labels 0 → -1 and 1 → +1")
    p.add_argument("--alpha", type=float, help="LeakyReLU slope (required for state dicts)")
    p.add_argument("--run", dest="run_file", metavar="RUN.npz", help="run whose snapshots give β(t) and clusters")
    p.add_argument("--tau", type=float, default=0.99, help="cosine-similarity threshold of the neuron graph")
    p.add_argument("--report", metavar="DIR", help="write report.md and figures into DIR")
    p.add_argument("--exact", action="store_true", help="also solve the exact worst-case disagreement (MILP)")
    add_json(p)
    p.set_defaults(run=run)


def _is_run(path) -> bool:
    from .._io import load_npz

    return path.suffix.lower() == ".npz" and "format" in load_npz(path)


def _text(r: dict) -> str:
    def f(x, spec=".4g"):
        return "—" if x is None else format(x, spec)

    nw = r["network"]
    lines = [f"network   k+={nw['k_pos']} k-={nw['k_neg']} dim={nw['dim']} alpha={nw['alpha']:g}"
             f"{' (with biases: lifted space)' if nw['input_bias'] else ''}"]
    if r["direction"] is None:
        lines.append("direction none (Σw_j − Σu_j = 0)")
    else:
        v = r["direction"]
        shown = ", ".join(f"{t:.4f}" for t in v[:6]) + (", …" if len(v) > 6 else "")
        lines.append(f"direction v = ({shown})")
    lines.append(f"band      β = {f(r['band_beta'])}{' (vacuous)' if r['vacuous'] else ''}   "
                 f"P(band) = {f(r['band_probability'])}")
    for s in ("train", "test"):
        c = r["certified_fraction"].get(s)
        if c is not None:
            lines.append(f"{s:9s} certified {c:.4f}   exact agreement {r['agreement_fraction'][s]:.4f}   "
                         f"outside band {r['band_fraction'][s]:.4f}   error {f(r[s + '_error'])}")
    cl = r["clusters"]
    lines.append(f"clusters  τ={cl['tau']}: {cl['pos']['count']} positive, {cl['neg']['count']} negative"
                 f" → {'two clusters' if cl['two_clusters'] else 'not two clusters'}")
    if r.get("angles_deg"):
        lines.append("angles    " + "   ".join(f"{k} {f(a, '.2f')}°" for k, a in r["angles_deg"].items()))
    pl = r.get("predicted_limit")
    if pl:
        lines.append(f"limit P*  self-consistent: {pl['self_consistent']}" + (f" ({pl['error']})" if pl.get("error") else ""))
    if "run" in r:
        h = r["run"]
        c = h.get("clustering", {})
        lines.append(f"run       β(T) = {f(h['beta'][-1])}, clusters {h['cluster_count'][-1]}, Theorem 3 condition "
                     f"{'met from t0=' + str(c.get('t0')) if c.get('condition_met') else 'not met'}")
    if "exact" in r:
        ex = r["exact"]
        lines.append(f"exact     β+ = {ex.get('beta_plus')}   β- = {ex.get('beta_minus')}   "
                     f"exactly linear: {ex.get('exactly_linear')}")
    if "report" in r:
        lines.append(f"report    {r['report']}")
    return "\n".join(lines)


def run(args) -> int:
    from pathlib import Path

    from .._audit import audit
    from .._data import load_dataset
    from .._errors import InputError
    from .._network import load_network
    from .._train import load_run

    net_path = Path(args.net)
    if not net_path.is_file():
        raise InputError(f"{net_path}: no such file")
    if args.report:
        rp = Path(args.report)
        if rp.exists() and not rp.is_dir():
            raise InputError(f"{rp}: exists and is not a folder")
    run_obj = net_run = None
    if _is_run(net_path):
        run_obj = net_run = load_run(net_path)
        if args.alpha is not None and float(args.alpha) != run_obj.final.alpha:
            raise InputError(f"{net_path}: the run has alpha={run_obj.final.alpha} but --alpha {args.alpha} was given")
        net = run_obj.final
    else:
        net = load_network(net_path, alpha=args.alpha)
    if args.run_file:
        run_obj = load_run(args.run_file)
    data = load_dataset(args.data, labels01=args.labels01) if args.data else None
    if data is None and net_run is not None:
        data = net_run.data
    test = load_dataset(args.test, labels01=args.labels01) if args.test else None
    for ds in (data, test):
        if ds is not None:
            net.lift(ds.X[:1])  # shape mismatch → exit 2 before any work
    result = audit(net, data, test, run=run_obj, report_dir=args.report, exact=args.exact, tau=args.tau)
    emit(args, _text(result), result)
    return 0
