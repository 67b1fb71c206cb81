"""`verify check CERT.json…` — the independent checker (imports only `verify.check`)."""

from __future__ import annotations

import sys

from ..cli import emit
from ._common import add_json


def register(sub) -> None:
    p = sub.add_parser("check", help="re-check certificates in exact / interval arithmetic")
    p.add_argument("certificates", nargs="+", metavar="CERT.json")
    add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..check import Unreadable, check_certificate

    reports = []
    for path in args.certificates:
        try:
            reports.append(check_certificate(path))
        except Unreadable as exc:
            print(f"verify: error: {exc}", file=sys.stderr)
            return 2
    lines = []
    for r in reports:
        lines.append(f"{'ACCEPTED' if r.accepted else 'REJECTED'}  {r.path}  ({r.kind})")
        if r.error:
            lines.append(f"  error: {r.error}")
        for c in r.results:
            lines.append(f"  [{'ok' if c.accepted else 'NO'}] {c.name} {c.relation} {c.value}: {c.reason}")
    ok = all(r.accepted for r in reports)
    emit(args, "\n".join(lines), {"accepted": ok, "certificates": [r.to_dict() for r in reports]})
    return 0 if ok else 1
