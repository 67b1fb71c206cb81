"""The `verify` command: one parser, one module per subcommand in `verify.commands`.

Each subcommand module defines `register(subparsers)` (which sets `run=` as a default)
and `run(args) -> int`. Exit codes: 0 done / claim holds, 1 a checked claim is false,
2 bad input or usage (one line on stderr, nothing written).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from ._errors import ClaimFalse, InputError

# subcommand modules under verify.commands, in the order `verify --help` lists them
COMMANDS = ["demo", "train", "check", "certify", "derive", "bound", "margin", "sweep", "sweep_report", "audit", "exact"]


def emit(args, text: str, obj) -> None:
    """Print human text, or JSON when `--json` was given."""
    if getattr(args, "json", False):
        print(json.dumps(obj, indent=2, default=_json_default))
    else:
        print(text)


def _json_default(o):
    import numpy as np

    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="verify",
        description="Certificates for two-layer Leaky-ReLU networks trained on linearly separable data.",
    )
    parser.add_argument("--version", action="version", version=f"verify {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"verify.commands.{name}").register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.run(args))
    except InputError as exc:
        print(f"verify: error: {exc}", file=sys.stderr)
        return 2
    except ClaimFalse as exc:
        print(f"verify: claim false: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("verify: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader (e.g. `| head`) went away; stop quietly, as Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
