"""The GPU benchmark runs where no GPU is (``--device cpu``, to try it):
its logits agree with Hugging Face's AST holding the same weights, and it
prints a row per precision and model."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from bench_gpu import PRECISIONS, main  # noqa: E402


def test_the_benchmark_agrees_with_hugging_face_and_tables(capsys):
    difference = main(["--device", "cpu", "--frames", "128", "--batch", "1",
                       "--repeats", "1", "--skip-training"])  # fmt: skip
    assert difference < 1e-4
    out = capsys.readouterr().out
    for precision in PRECISIONS:
        assert f"| {precision} | hugging face |" in out
        assert f"| {precision} | this project |" in out
