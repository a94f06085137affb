"""The documentation keeps up with the code."""

from __future__ import annotations

import re
from pathlib import Path

from ewssim import config

DOCS = Path(__file__).resolve().parents[1] / "docs"
README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_parameter_is_in_the_model_reference():
    text = (DOCS / "model-reference.md").read_text()
    for p in config.describe_parameters():
        assert f"`{p['key']}`" in text, p["key"]


def test_readme_starts_with_install_and_test_commands():
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    assert "pip install -e '.[dev]'" in blocks[0] and "ewssim run" in blocks[0]
    assert "pytest" in blocks[1]
    ci = (README.parent / ".ci" / "run").read_text()
    assert blocks[1].strip() in ci


def test_doc_links_resolve():
    for md in [README, *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+)\)", md.read_text()):
            if "://" in target:
                continue
            assert (md.parent / target).exists(), f"{md.name} -> {target}"


def test_api_page_session_runs():
    """docs/api.md's session is executed as written."""
    text = (DOCS / "api.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", text, re.S)
    exec(compile(block, "docs/api.md", "exec"), {})


def test_index_lists_every_page():
    index = (DOCS / "index.md").read_text()
    for md in DOCS.glob("*.md"):
        if md.name != "index.md":
            assert f"({md.name})" in index, md.name
