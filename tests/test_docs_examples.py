"""Every example in README.md and docs/ is checked against the code.

* every ``ewssim ...`` command line in a code block parses with the CLI's own parser (flags and
  choices cannot drift), placeholders (``NAME|FILE``, ``[--opt]``) excepted;
* the commands that run in seconds are run, in order, in a scratch directory (the rest --
  k-means compressions, 1,000-point sweeps, whole-zoo comparisons -- are covered by their own
  tests on smaller inputs);
* every TOML block loads: sweep specs through the sweep parser (counting their points), and
  architecture files through the configuration loader.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from ewssim.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: commands run for real (seconds each), by their first words
RUN = ("ewssim arch show", "ewssim workload list", "ewssim workload show resnet50",
       "ewssim run --arch ews --workload resnet18", "ewssim run --arch my.toml",
       "ewssim run --arch ews --array 32x32", "ewssim report", "ewssim normalize",
       "ewssim run --arch mvq --workload resnet18 --out", "ewssim area")


def _blocks(kind: str | None = None):
    for page in PAGES:
        for lang, body in re.findall(r"```(\w*)\n(.*?)```", page.read_text(), re.S):
            if kind is None or lang == kind:
                yield page, lang, body


def _commands():
    out = []
    for page, lang, body in _blocks():
        if lang not in ("", "bash"):
            continue
        text = body.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split("  #")[0].strip()
            if "ewssim " not in line:
                continue
            line = line[line.index("ewssim "):]
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("ewssim ") and not re.search(r"[|\[\]]|\.\.\.|[A-Z]{3,}\b",
                                                               part.split(">")[0]):
                    out.append((page.name, part))
    return out


COMMANDS = _commands()


def test_the_docs_have_commands():
    assert len(COMMANDS) > 25


@pytest.mark.parametrize("page,cmd", COMMANDS, ids=[f"{p}:{c[:60]}" for p, c in COMMANDS])
def test_every_command_parses(page, cmd):
    argv = shlex.split(cmd.split(">")[0])[1:]
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:      # argparse refuses: the docs drifted from the CLI
        pytest.fail(f"{page}: `{cmd}` is refused by the CLI (exit {exc.code})")


def test_cheap_commands_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    ran = 0
    for page, cmd in COMMANDS:
        if not cmd.startswith(RUN) or "--compressed" in cmd:
            continue
        head, _, target = cmd.partition(">")
        argv = shlex.split(head)[1:]
        if argv[0] == "report":
            (tmp_path / argv[1]).mkdir(parents=True, exist_ok=True)
            if not (tmp_path / argv[1] / "layers.csv").exists():
                continue
        code = main(argv)
        out = capsys.readouterr().out
        assert code == 0, f"{page}: `{cmd}`"
        if target.strip():
            (tmp_path / target.strip()).write_text(out)
        ran += 1
    assert ran >= 8


@pytest.mark.parametrize("page,body", [(p.name, b) for p, _, b in _blocks("toml")],
                         ids=lambda x: x if isinstance(x, str) and x.endswith(".md") else "")
def test_every_toml_example_loads(page, body, tmp_path):
    if "[sweep]" in body:
        from ewssim.sweep.spec import load_spec

        spec_file = tmp_path / "spec.toml"
        # workloads that are the reader's own files are replaced by zoo networks
        spec_file.write_text(body.replace('"nets/my.csv"', '"tiny"'))
        spec = load_spec(spec_file)
        assert len(list(spec.points())) > 0
    else:
        from ewssim.config import load

        arch_file = tmp_path / "arch.toml"
        arch_file.write_text(body)
        load(str(arch_file))
