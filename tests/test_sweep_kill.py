"""A sweep killed with SIGKILL mid-run loses nothing it finished, and a rerun completes it with
every point exactly once and the values of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ewssim.sweep import dump

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL")

# 64 points of the tiny network on very small arrays (slow enough to be killed mid-run)
SPEC = """
[sweep]
workloads = ["tiny"]

[axes]
"array" = ["1x1", "1x2", "2x1", "2x2"]
"memory.l2_bytes" = [262144, 1048576]
"memory.dram_bytes_per_cycle" = [2, 4, 8, 16]
"preset" = ["ews", "ws"]
"""
TOTAL = 64


def _sweep(spec: Path, db: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen([sys.executable, "-m", "ewssim", "sweep", str(spec), "--out",
                             str(db), *extra], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _ok_rows(db: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT COUNT(*) FROM results WHERE status = 'ok'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_sigkill_then_rerun_equals_an_uninterrupted_run(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    killed, clean = tmp_path / "killed.sqlite", tmp_path / "clean.sqlite"

    proc = _sweep(spec, killed, "--workers", "1")
    deadline = time.monotonic() + 20
    while _ok_rows(killed) < 3:
        assert proc.poll() is None, f"sweep ended before the kill: {proc.communicate()}"
        assert time.monotonic() < deadline, "no point finished within 20 s"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    at_kill = _ok_rows(killed)
    assert 3 <= at_kill < TOTAL, "the kill did not land mid-run"

    rerun = _sweep(spec, killed, "--workers", "2")
    out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    assert f"{at_kill} already done" in err and f"{TOTAL - at_kill} simulated" in err

    ref = _sweep(spec, clean, "--workers", "2")
    _, err = ref.communicate(timeout=60)
    assert ref.returncode == 0, err

    con = sqlite3.connect(killed)
    ids = [r[0] for r in con.execute("SELECT point_id FROM results")]
    assert len(ids) == len(set(ids)) == TOTAL
    assert {r[0] for r in con.execute("SELECT status FROM results")} == {"ok"}
    con.close()
    assert dump(killed) == dump(clean)
