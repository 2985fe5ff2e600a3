#!/usr/bin/env python3
"""Peak memory and time of tagging long files with sliding windows, and
of their embeddings and sound events.

Writes 1-minute and 10-minute 16-kHz files, then runs each task on each
file in its own process on a random AST of the chosen size: ``tag``
(``AudioTagger.tag_file``: windows of 10.255 s, hop 10.255 s), ``embed``
(``embed_file`` with per-time-step embeddings) and ``events``
(``detect_events`` with a frame-level head), batches of 4 windows, and
prints the rise of the peak resident memory (VmHWM, reset after the model
is loaded and converted to ``--precision``) and the wall time per file.
Memory should depend on the window batch, not on the file's duration
(beyond the outputs themselves).

Usage::

    python benchmarks/bench_long_audio.py [--size base224] [--minutes 1 10]
        [--tasks tag embed events] [--precision auto]

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
    AudioClassificationPipeline,
    AudioSpectrogramTransformer,
    FbankNormalization,
    FrameLevelHead,
    KaldiFbank,
)
from pretrained_interfaces import AudioTagger  # noqa: E402
from pretrained_interfaces.embeddings import embed_file  # noqa: E402
from pretrained_interfaces.events import detect_events  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from peak_memory import peak_rss_mb, reset_peak_rss  # noqa: E402


def write_noise(path, minutes):
    """A long file, written a minute at a time."""
    rng = np.random.default_rng(0)
    with soundfile.SoundFile(path, "w", 16000, 1, subtype="PCM_16") as out:
        for _ in range(minutes):
            out.write(0.1 * rng.standard_normal(60 * 16000))


def worker(size, task, path, batch_size, precision):
    torch.manual_seed(0)
    frames = task == "events"
    encoder = AudioSpectrogramTransformer(
        model_size=size, target_length=1024,
        pooling="time_steps" if frames else "cls_dist",
    )  # fmt: skip
    head = (FrameLevelHead if frames else AudioClassificationHead)(
        encoder.embed_dim, 527
    )
    names = [str(i) for i in range(527)]
    pipeline = AudioClassificationPipeline(
        KaldiFbank(target_length=1024), FbankNormalization("audioset"),
        encoder, head,
    )  # fmt: skip
    tagger = AudioTagger.from_pipeline(pipeline, names, precision=precision)
    tagger.scores_batch(torch.zeros(1, 16000))  # converts to the precision
    reset_peak_rss()
    before = peak_rss_mb()
    start = time.perf_counter()
    if task == "tag":
        windows = len(tagger.tag_file(path, batch_size=batch_size).windows)
    elif task == "embed":
        result = embed_file(tagger, path, time_steps=True,
                                   batch_size=batch_size)  # fmt: skip
        windows = len(result.windows)
    else:
        result = detect_events(tagger, path, batch_size=batch_size)
        windows = len(result.times) // encoder.grid[1] + 1
    print(
        json.dumps(
            {
                "peak_mb": peak_rss_mb() - before,
                "seconds": time.perf_counter() - start,
                "windows": windows,
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="base224")
    parser.add_argument("--minutes", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--tasks", nargs="+", default=["tag"],
                        choices=["tag", "embed", "events"])  # fmt: skip
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.size, *args.worker, args.batch_size, args.precision)
        return
    torch.set_num_threads(torch.get_num_threads())
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for minutes in args.minutes:
            path = os.path.join(folder, f"{minutes}min.wav")
            write_noise(path, minutes)
            for task in args.tasks:
                output = subprocess.run(
                    [sys.executable, __file__, "--size", args.size,
                     "--batch-size", str(args.batch_size),
                     "--precision", args.precision, "--worker", task, path],
                    capture_output=True, text=True, check=True,
                ).stdout  # fmt: skip
                row = json.loads(output.strip().splitlines()[-1])
                rows.append((task, minutes, row))
    malloc = os.environ.get("MALLOC_MMAP_THRESHOLD_")
    print(
        f"{args.size}, batches of {args.batch_size} windows, precision "
        f"{args.precision}"
        + (f", MALLOC_MMAP_THRESHOLD_={malloc}" if malloc else "")
    )
    print("| task | audio | windows | peak memory rise MB | seconds | "
          "s per window |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for task, minutes, row in sorted(rows, key=lambda r: (r[0], r[1])):
        print(
            f"| {task} | {minutes} min | {row['windows']} | "
            f"{row['peak_mb']:.0f} | {row['seconds']:.1f} | "
            f"{row['seconds'] / row['windows']:.2f} |"
        )


if __name__ == "__main__":
    main()
