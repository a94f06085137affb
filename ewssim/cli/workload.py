"""`ewssim workload list|show` (filled in by step 1)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("workload", help="list and show workloads (the network zoo, topology CSVs)")
    p.set_defaults(func=lambda a: p.print_help() or 0)
