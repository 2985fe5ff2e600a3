#!/usr/bin/env python3
"""Peak memory and time of tagging long files with sliding windows.

Writes 1-minute and 10-minute 16-kHz files, then tags each one in its own
process with ``AudioTagger.tag_file`` (windows of 10.255 s, hop 10.255 s,
batches of 4 windows, so that both files run full batches) on a random AST
of the chosen size, and prints the rise of the peak resident memory
(VmHWM, reset after the model is loaded) and the wall time per file.
Memory should depend on the window batch, not on the file's duration.

Usage::

    python benchmarks/bench_long_audio.py [--size base224] [--minutes 1 10]

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ast_lobes import (  # noqa: E402
    AudioClassificationHead,
    AudioSpectrogramTransformer,
)
from pretrained_interfaces import AudioTagger  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from peak_memory import peak_rss_mb, reset_peak_rss  # noqa: E402


def write_noise(path, minutes):
    """A long file, written a minute at a time."""
    rng = np.random.default_rng(0)
    with soundfile.SoundFile(path, "w", 16000, 1, subtype="PCM_16") as out:
        for _ in range(minutes):
            out.write(0.1 * rng.standard_normal(60 * 16000))


def worker(size, path, batch_size):
    torch.manual_seed(0)
    encoder = AudioSpectrogramTransformer(model_size=size, input_tdim=1024)
    head = AudioClassificationHead(encoder.embed_dim, 527)
    names = [str(i) for i in range(527)]
    tagger = AudioTagger.from_modules(encoder, head, names, max_frames=1024)
    reset_peak_rss()
    before = peak_rss_mb()
    start = time.perf_counter()
    result = tagger.tag_file(path, batch_size=batch_size)
    print(
        json.dumps(
            {
                "peak_mb": peak_rss_mb() - before,
                "seconds": time.perf_counter() - start,
                "windows": len(result.windows),
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="base224")
    parser.add_argument("--minutes", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.size, args.worker[1], args.batch_size)
        return
    torch.set_num_threads(torch.get_num_threads())
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for minutes in args.minutes:
            path = os.path.join(folder, f"{minutes}min.wav")
            write_noise(path, minutes)
            output = subprocess.run(
                [sys.executable, __file__, "--size", args.size,
                 "--batch-size", str(args.batch_size),
                 "--worker", "tag", path],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            rows.append((minutes, json.loads(output.strip().splitlines()[-1])))
    print("| audio | windows | peak memory rise MB | seconds | s per window |")
    print("|---|---|---|---|---|")
    for minutes, row in rows:
        print(
            f"| {minutes} min | {row['windows']} | {row['peak_mb']:.0f} | "
            f"{row['seconds']:.1f} | {row['seconds'] / row['windows']:.2f} |"
        )


if __name__ == "__main__":
    main()
