"""The independent checker (`verify check`).

Small on purpose, and it imports nothing from the trainer, the solvers or the symbolic
derivations: it reads a certificate and the files it names, verifies their hashes, and
re-derives every claim in exact rationals or rigorous `arb` balls (see `_core`). One
module per certificate kind lives in `verify.check.kinds`.
"""

from ._core import (ClaimResult as ClaimResult, Context as Context, Enclosure as Enclosure,
                    Report as Report, Unreadable as Unreadable, Verdict as Verdict,
                    check_certificate as check_certificate, load_certificate as load_certificate)
from ._exact import Reject as Reject

__all__ = ["ClaimResult", "Context", "Enclosure", "Report", "Reject", "Unreadable", "Verdict",
           "check_certificate", "load_certificate"]
