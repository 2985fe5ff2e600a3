"""Fbank normalisation statistics of a dataset, from its manifest.

As the reference's ``get_norm_stats.py``: every clip's fbank is padded or
cut to the target length, and the reported mean and std are the averages
over clips of each clip's mean and standard deviation. Use them as
``FbankNormalization((mean, std))``.

Usage::

    python -m ast_lobes.audio.norm_stats train.csv --target-length 1024

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import csv

import torch

from ast_lobes.audio.fbank import KaldiFbank
from ast_lobes.audio.io import read_audio


def dataset_fbank_stats(wav_paths, target_length=1024, sample_rate=16000):
    """Mean and std as the reference computes them.

    Arguments
    ---------
    wav_paths : list of str
        Audio files (resampled to ``sample_rate`` when needed).
    target_length : int
        Frames each clip is padded or cut to.
    sample_rate : int
        Feature sample rate.

    Returns
    -------
    tuple
        ``(mean, std)``.
    """
    if not wav_paths:
        raise ValueError("No audio files given for the statistics")
    features = KaldiFbank(sample_rate=sample_rate, target_length=target_length)
    means, stds = [], []
    with torch.no_grad():
        for path in wav_paths:
            feats = features(read_audio(path, sample_rate))
            means.append(feats.mean().item())
            stds.append(feats.std().item())
    return sum(means) / len(means), sum(stds) / len(stds)


def main(argv=None):
    """Command line: prints the statistics of a manifest's ``wav`` column."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", help="CSV with a 'wav' column")
    parser.add_argument("--target-length", type=int, default=1024)
    parser.add_argument("--sample-rate", type=int, default=16000)
    args = parser.parse_args(argv)
    with open(args.manifest, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if rows and "wav" not in rows[0]:
        raise SystemExit(f"{args.manifest}: no 'wav' column")
    mean, std = dataset_fbank_stats(
        [row["wav"] for row in rows], args.target_length, args.sample_rate
    )
    print(f"mean: {mean:.7f}\nstd: {std:.7f}")
    print(f"normalization: [{mean:.7f}, {std:.7f}]")


if __name__ == "__main__":
    main()
