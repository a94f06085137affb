"""`ewssim compress` (filled in by step 2)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("compress", help="compress a network's weights (MVQ, VQ, SSVQ)")
    p.set_defaults(func=lambda a: p.print_help() or 0)
