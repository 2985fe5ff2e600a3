#!/usr/bin/env python3
"""Clips per second the training loader delivers: loose WAV files (the
manifest, read one by one through SpeechBrain's data loader with the
label-balanced sampler) against WebDataset shards (``ShardedClips``,
label-balanced, shuffle buffer 1,000), for 0, 2 and 4 loader workers, from
a cold page cache (when this user may drop it) and a warm one; then the
estimated epoch time of the full AudioSet at a stated GPU speed.

    python benchmarks/bench_loader.py [--clips 800] [--workers 0,2,4]
        [--gpu_clips_per_second 77] [--gpus 4] [--full_set_clips 2000000]

The clips are 10-s, 16-kHz mono tones and noise in bursts with silences
(loose: 16-bit WAV; shards: 16-bit FLAC, 100 clips a shard unless
``--clips_per_shard``), labelled with one to three of 20 labels. The loader
delivers waveforms; the filterbank is computed on the training device.

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import soundfile
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from ast_lobes.inference.hardware import detect_hardware  # noqa: E402
from ast_lobes.training.data.datasets import (  # noqa: E402
    build_label_encoder,
    classification_dataset,
)
from ast_lobes.training.data.sampling import label_balanced_sampler  # noqa: E402
from ast_lobes.training.data.shards import (  # noqa: E402
    ShardedClips,
    ShardLoader,
    write_shards,
)

RATE = 16000
LABELS = [f"label{n:02d}" for n in range(20)]


def make_clips(folder, clips, seconds, seed=0):
    """Writes the WAV clips and their manifest; returns the manifest."""
    rng = np.random.default_rng(seed)
    manifest = os.path.join(folder, "train.csv")
    with open(manifest, "w", encoding="utf-8") as handle:
        handle.write("ID,duration,wav,label\n")
        for number in range(clips):
            samples = int(seconds * RATE)
            t = np.arange(samples) / RATE
            wave = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t)
            wave += 0.05 * rng.standard_normal(samples)
            gate = np.repeat(rng.random(int(seconds * 4)) < 0.6, RATE // 4)
            wave[: len(gate)] *= gate
            path = os.path.join(folder, "audio", f"clip{number:06d}.wav")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            soundfile.write(path, wave.astype(np.float32), RATE, "PCM_16")
            labels = rng.choice(LABELS, rng.integers(1, 4), replace=False)
            handle.write(f"clip{number:06d},{seconds},{path},"
                         f"{';'.join(labels)}\n")  # fmt: skip
    return manifest


def loose_loader(manifest, encoder, batch_size, workers):
    """The recipe's loader over loose files (label-balanced sampler)."""
    from speechbrain.dataio.dataloader import make_dataloader

    dataset = classification_dataset(manifest, encoder, RATE)
    sampler = label_balanced_sampler(manifest, seed=0)
    return make_dataloader(dataset, batch_size=batch_size, sampler=sampler,
                           num_workers=workers)  # fmt: skip


def shard_loader(pattern, encoder, batch_size, workers):
    """The recipe's loader over shards (label-balanced draws)."""
    clips = ShardedClips(pattern, encoder, batch_size, seed=0, balanced=True,
                         shuffle_buffer=1000, world_size=1, rank=0)  # fmt: skip
    return ShardLoader(clips, num_workers=workers)


def drop_page_cache():
    """True if the kernel's page cache could be dropped (root only)."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as handle:
            handle.write("3\n")
        return True
    except OSError:
        return False


def clips_per_second(loader):
    """One epoch, the workers' start included: clips a second."""
    start, clips = time.perf_counter(), 0
    for batch in loader:
        clips += len(batch.id)
    return clips / (time.perf_counter() - start)


def folder_megabytes(paths):
    return sum(os.path.getsize(p) for p in paths) / 1e6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=800)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch_size", type=int, default=12)
    parser.add_argument("--clips_per_shard", type=int, default=100)
    parser.add_argument("--workers", default="0,2,4")
    parser.add_argument(
        "--gpu_clips_per_second", type=float, default=77.0,
        help="training clips/s of one GPU (AST-Base, 10 s)",
    )  # fmt: skip
    parser.add_argument("--gpus", type=int, default=4)
    parser.add_argument("--full_set_clips", type=int, default=2_000_000)
    parser.add_argument(
        "--folder", default=None,
        help="where the clips go (default: a temporary one)",
    )  # fmt: skip
    parser.add_argument("--warm_only", action="store_true",
                        help="never drop the page cache")  # fmt: skip
    args = parser.parse_args(argv)
    folder = args.folder or tempfile.mkdtemp(prefix="bench_loader_")
    os.makedirs(folder, exist_ok=True)
    manifest = make_clips(folder, args.clips, args.seconds)
    shards = os.path.join(folder, "shards")
    index = write_shards(manifest, shards, args.clips_per_shard,
                         log=lambda line: None)  # fmt: skip
    last = len(index["shards"]) - 1
    pattern = os.path.join(shards, f"shard-{{000000..{last:06d}}}.tar")
    encoder = build_label_encoder(os.path.join(folder, "le.txt"), manifest)
    wavs = [os.path.join(folder, "audio", n)
            for n in os.listdir(os.path.join(folder, "audio"))]  # fmt: skip
    tars = [os.path.join(shards, s["name"]) for s in index["shards"]]
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, "
          f"{detect_hardware('cpu').describe()}")  # fmt: skip
    print(f"{args.clips} clips of {args.seconds:g} s: loose WAV "
          f"{folder_megabytes(wavs):.0f} MB in {len(wavs)} files, FLAC "
          f"shards {folder_megabytes(tars):.0f} MB in {len(tars)} files; "
          f"batch {args.batch_size}, label-balanced")  # fmt: skip
    can_drop = not args.warm_only and drop_page_cache()
    caches = ["cold", "warm"] if can_drop else ["warm"]
    if not can_drop and not args.warm_only:
        print("(the page cache cannot be dropped here: warm figures only)")
    rows = []
    for workers in [int(w) for w in args.workers.split(",")]:
        for name, make in (("loose files", loose_loader),
                           ("shards", shard_loader)):  # fmt: skip
            source = manifest if make is loose_loader else pattern
            for cache in caches:
                if cache == "cold":
                    drop_page_cache()
                else:  # read once to warm it
                    clips_per_second(make(source, encoder, args.batch_size, 0))
                rate = clips_per_second(
                    make(source, encoder, args.batch_size, workers)
                )
                rows.append((name, workers, cache, rate))
    gpu_rate = args.gpu_clips_per_second * args.gpus
    hours = args.full_set_clips / gpu_rate / 3600
    print()
    print("| data | workers | page cache | clips/s | loader-bound epoch "
          f"of {args.full_set_clips:,} clips, one process |")  # fmt: skip
    print("|---|---|---|---|---|")
    for name, workers, cache, rate in rows:
        epoch = args.full_set_clips / rate / 3600
        print(f"| {name} | {workers} | {cache} | {rate:.0f} | "
              f"{epoch:.1f} h |")  # fmt: skip
    print()
    print(
        f"At {args.gpu_clips_per_second:g} training clips/s per GPU "
        f"(AST-Base, 10-s clips), {args.gpus} GPUs train an epoch of "
        f"{args.full_set_clips:,} clips in {hours:.1f} h if each GPU's "
        f"loader delivers {args.gpu_clips_per_second:g} clips/s."
    )
    return rows


if __name__ == "__main__":
    main()
