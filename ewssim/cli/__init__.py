"""Command line: parses arguments, calls the Python API, prints.  Nothing imports this package.

Each command group lives in its own module and contributes ``register(subparsers)``; the module's
handler returns an exit status.  Bad input (:class:`~ewssim.errors.InputError`) is printed as one
line on stderr with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys

from ewssim import __version__
from ewssim.errors import EwssimError, InputError

from . import area as _area
from . import compare as _compare
from . import compress as _compress
from . import report as _report
from . import reproduce as _reproduce
from . import run as _run
from . import sweep as _sweep
from . import workload as _workload
from .process import tune_allocator

_GROUPS = [_workload, _compress, _run, _report, _reproduce, _area, _compare, _sweep]


class _Parser(argparse.ArgumentParser):
    """argparse prints usage + error and exits 2 already; keep it to the one error line."""

    def error(self, message: str):  # noqa: D401
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ewssim",
        description="Cycle-accurate simulator of EWS / MVQ DNN accelerators.",
    )
    parser.add_argument("--version", action="version", version=f"ewssim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for group in _GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    tune_allocator()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"ewssim: error: {exc}", file=sys.stderr)
        return 2
    except EwssimError as exc:
        print(f"ewssim: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `ewssim workload show resnet50 | head`
        return 0
    except KeyboardInterrupt:
        print("ewssim: interrupted", file=sys.stderr)
        return 130
