"""Regenerate the parameter table of docs/model-reference.md from ewssim/config.py's metadata.

Usage: python scripts/gen_param_table.py   (rewrites the text between the two markers)
"""

from __future__ import annotations

from pathlib import Path

from ewssim import config

BEGIN, END = "<!-- params:begin -->", "<!-- params:end -->"
DOC = Path(__file__).resolve().parents[1] / "docs" / "model-reference.md"


def table() -> str:
    lines = ["| key | default | unit | source | meaning |", "|---|---|---|---|---|"]
    for r in config.describe_parameters():
        d = r["default"]
        d = ("true" if d else "false") if isinstance(d, bool) else d
        lines.append(f"| `{r['key']}` | {d} | {r['unit'] or ''} | {r['source']} | {r['doc']} |")
    return "\n".join(lines)


def main() -> None:
    text = DOC.read_text()
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    DOC.write_text(f"{head}{BEGIN}\n{table()}\n{END}{tail}")


if __name__ == "__main__":
    main()
