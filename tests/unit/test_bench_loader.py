"""The loader benchmark times both loaders over the same clips (a tiny
set, warm cache only) and prints its table."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from bench_loader import main  # noqa: E402


def test_both_loaders_are_timed_and_tabled(tmp_path, capsys):
    rows = main(["--clips", "24", "--seconds", "1", "--clips_per_shard",
                 "6", "--workers", "0", "--warm_only", "--folder",
                 str(tmp_path)])  # fmt: skip
    assert [(name, workers) for name, workers, _, _ in rows] == [
        ("loose files", 0), ("shards", 0),
    ]  # fmt: skip
    assert all(rate > 0 for *_, rate in rows)
    out = capsys.readouterr().out
    assert "24 clips of 1 s" in out and "in 4 files" in out
    assert "| shards | 0 | warm |" in out
