"""The measurements the benchmarks run in processes of their own (a
fresh process per model, so that one model's memory or warm caches never
count for another); each prints one JSON line.

    python benchmarks/workers.py memory MODE BATCH MODEL_DIR FRAMES OUT.pt
        peak resident memory rise (MB) of one forward pass of MODE; the
        logits saved to OUT.pt
    python benchmarks/workers.py speed BATCH MODEL_DIR FRAMES REPEATS MODES
        median seconds per clip of each of MODES (comma-separated), timed
        alternately in this one process
    python benchmarks/workers.py hf-archive MODEL_DIR FOLDER BATCH DEVICE
        clips per second of Hugging Face's audio-classification pipeline
        over the WAV files of FOLDER, on DEVICE
    python benchmarks/workers.py training SIZE BATCH FRAMES PATCHOUT STEPS
        PRECISION
        training samples per second (Adam) of an AST of SIZE

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import json
import os
import statistics
import sys
import time
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_common import SIZES, fbank_batch, load, slow_modes  # noqa: E402
from peak_memory import peak_rss_mb, reset_peak_rss  # noqa: E402


def memory_worker(mode, batch, path, frames, out_file):
    """Peak-RSS rise of one forward pass; saves the logits."""
    forward = load(mode, path, frames)
    fbank = fbank_batch(batch, frames)
    reset_peak_rss()
    before = peak_rss_mb()
    with torch.inference_mode():
        logits = forward(fbank).float()
    torch.save(logits, out_file)
    print(json.dumps({"peak_mb": peak_rss_mb() - before}))


def speed_worker(batch, path, frames, repeats, modes):
    """Median seconds per clip of every mode, timed alternately; a mode
    slow on this CPU is timed once (its first call) and not repeated."""
    forwards = {mode: load(mode, path, frames) for mode in modes}
    fbank = fbank_batch(batch, frames)
    times = {mode: [] for mode in forwards}
    slow = slow_modes()
    with torch.inference_mode():
        for mode, forward in forwards.items():
            start = time.perf_counter()
            forward(fbank)  # warm-up (and int8 compilation)
            if mode in slow:
                times[mode].append((time.perf_counter() - start) / batch)
        for _ in range(repeats):
            for mode, forward in forwards.items():
                if mode in slow:
                    continue
                start = time.perf_counter()
                forward(fbank)
                times[mode].append((time.perf_counter() - start) / batch)
    print(json.dumps({k: statistics.median(v) for k, v in times.items()}))


def hf_archive_worker(path, folder, batch, device="cpu"):
    """Clips per second of Hugging Face's audio-classification pipeline
    over the WAV files of ``folder``, decoded as it goes, on ``device``."""
    import glob

    import soundfile
    from transformers import pipeline

    classify = pipeline(
        "audio-classification", model=path, batch_size=batch, top_k=5,
        device=device,
    )  # fmt: skip
    files = sorted(glob.glob(os.path.join(folder, "*.wav")))

    def clips():
        for file in files:
            audio, rate = soundfile.read(file, dtype="float32")
            yield {"raw": audio, "sampling_rate": rate}

    start = time.perf_counter()
    tagged = sum(1 for _ in classify(clips()))
    seconds = time.perf_counter() - start
    print(json.dumps({"clips_per_s": tagged / seconds}))


def training_worker(size, batch, frames, patchout, steps, precision):
    """Training samples per second of AST ``size`` (Adam; ``precision``
    ``bf16``: under bf16 autocast, as SpeechBrain's ``--precision bf16``)."""
    from ast_lobes import AudioClassificationHead, AudioSpectrogramTransformer

    hidden, layers, heads = SIZES[size]
    torch.manual_seed(0)
    encoder = AudioSpectrogramTransformer(
        model_size=None,
        embed_dim=hidden,
        depth=layers,
        num_heads=heads,
        target_length=frames,
        patchout_time=40 if patchout else 0,
        patchout_freq=4 if patchout else 0,
    ).train()
    head = AudioClassificationHead(hidden, 527)
    params = list(encoder.parameters()) + list(head.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-5)
    fbank = fbank_batch(batch, frames)
    targets = torch.rand(batch, 527).round()
    bf16 = precision == "bf16"
    seconds = []
    for step in range(steps + 1):
        start = time.perf_counter()
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            logits = head(encoder(fbank)).squeeze(1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits.float(), targets
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step:  # the first step warms up
            seconds.append(time.perf_counter() - start)
    print(json.dumps({"samples_per_s": batch / statistics.median(seconds)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    kinds = parser.add_subparsers(dest="kind", required=True)
    memory = kinds.add_parser("memory")
    for name in ("mode", "batch", "path", "frames", "out_file"):
        memory.add_argument(name)
    speed = kinds.add_parser("speed")
    for name in ("batch", "path", "frames", "repeats", "modes"):
        speed.add_argument(name)
    archive = kinds.add_parser("hf-archive")
    for name in ("path", "folder", "batch", "device"):
        archive.add_argument(name)
    training = kinds.add_parser("training")
    for name in ("size", "batch", "frames", "patchout", "steps", "precision"):
        training.add_argument(name)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.kind == "memory":
        memory_worker(args.mode, int(args.batch), args.path,
                      int(args.frames), args.out_file)  # fmt: skip
    elif args.kind == "speed":
        speed_worker(int(args.batch), args.path, int(args.frames),
                     int(args.repeats), args.modes.split(","))  # fmt: skip
    elif args.kind == "hf-archive":
        hf_archive_worker(args.path, args.folder, int(args.batch), args.device)
    else:
        training_worker(args.size, int(args.batch), int(args.frames),
                        int(args.patchout), int(args.steps),
                        args.precision)  # fmt: skip


if __name__ == "__main__":
    main()
