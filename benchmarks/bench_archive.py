"""Archive tagging: ``ast-tag`` against Hugging Face's pipeline.

Clips per second over a folder of ten-second WAV files (random noise,
AST-Base random weights saved as a Hugging Face folder): ``ast-tag``
(precision auto, ``--output`` JSONL, default decoding workers) against
Hugging Face's ``audio-classification`` pipeline given the decoded clips
with the same batch size; model loading excluded.

Usage::

    python benchmarks/bench_archive.py [--archive-files 200] \
        [--archive-batch 8] [--device cpu]

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import os
import subprocess
import sys
import tempfile
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_common import (  # noqa: E402
    ROOT,
    auto_precision,
    build_reference,
    header,
    run_worker,
)


def ast_tag_archive(path, folder, batch, output, device):
    """Clips per second ``ast-tag`` reports over ``folder``."""
    import re

    command = [
        sys.executable, "-m", "pretrained_interfaces.tag_cli", folder,
        "--model", path, "--output", output, "--batch-size", str(batch),
        "--device", device,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if result.returncode:
        raise RuntimeError(f"ast-tag: {result.stderr[-3000:]}")
    return float(re.search(r"\(([\d.]+) clips/s\)", result.stderr)[1])


def archive_table(args):
    """Archive tagging, ast-tag against HF's pipeline, AST-Base."""
    import numpy as np
    import soundfile

    print()
    print("| files | batch | tool | precision | clips/s | vs HF pipeline |")
    print("|---|---|---|---|---|---|")
    auto = auto_precision(device=args.device)[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "base")
        build_reference("base", args.frames, path)
        folder = os.path.join(tmp, "clips")
        os.makedirs(folder)
        rng = np.random.default_rng(0)
        for index in range(args.archive_files):
            clip = 0.1 * rng.standard_normal(160000)
            soundfile.write(
                os.path.join(folder, f"clip{index:04d}.wav"), clip, 16000
            )
        batch = args.archive_batch
        hf = run_worker("hf-archive", path, folder, batch, args.device)
        hf = hf["clips_per_s"]
        ours = ast_tag_archive(
            path, folder, batch, os.path.join(tmp, "tags.jsonl"), args.device
        )
        files = args.archive_files
        print(f"| {files} | {batch} | HF pipeline | fp32 | {hf:.3f} | 1.00x |")
        print(
            f"| {files} | {batch} | ast-tag | auto: {auto} | {ours:.3f} "
            f"| {ours / hf:.2f}x |",
            flush=True,
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1024)
    parser.add_argument("--archive-files", type=int, default=200)
    parser.add_argument("--archive-batch", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    print(header())
    archive_table(args)


if __name__ == "__main__":
    main()
