#!/usr/bin/env python3
"""Writes a small synthetic dataset in the real ESC-50 layout.

Five acoustically distinct classes (a rising siren, rain-like noise, a
ticking clock, a low engine hum, chirping birds), seeded, as 44.1-kHz WAV
files named ``{fold}-{source}-{take}-{target}.wav`` with ``meta/esc50.csv``
holding the official columns. It feeds the README's demo and the tests.

Usage::

    python make_demo_data.py OUTPUT_FOLDER [--clips-per-fold 6] [--seconds 2]

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import csv
import os

import numpy as np
import soundfile

SAMPLE_RATE = 44100
CATEGORIES = ("siren", "rain", "clock_tick", "engine", "chirping_birds")


def siren(rng, t):
    centre = rng.uniform(600, 900)
    rate = rng.uniform(0.5, 1.5)
    freq = centre + 300 * np.sin(2 * np.pi * rate * t)
    return np.sin(2 * np.pi * np.cumsum(freq) / SAMPLE_RATE)


def rain(rng, t):
    noise = rng.standard_normal(t.size)
    spectrum = np.fft.rfft(noise)
    spectrum[: int(spectrum.size * rng.uniform(0.05, 0.15))] = 0
    return np.fft.irfft(spectrum, n=t.size) * 3


def clock_tick(rng, t):
    wave = np.zeros(t.size)
    period = int(SAMPLE_RATE * rng.uniform(0.2, 0.35))
    click = np.exp(-np.arange(400) / 40) * rng.standard_normal(400)
    for start in range(int(rng.uniform(0, period)), t.size - 400, period):
        wave[start : start + 400] += click * 4
    return wave


def engine(rng, t):
    base = rng.uniform(40, 70)
    wobble = 1 + 0.02 * np.sin(2 * np.pi * rng.uniform(2, 5) * t)
    return sum(
        np.sin(2 * np.pi * k * base * t * wobble) / k for k in range(1, 8)
    )


def chirping_birds(rng, t):
    wave = np.zeros(t.size)
    length = int(0.08 * SAMPLE_RATE)
    chirp_t = np.arange(length) / SAMPLE_RATE
    for _ in range(int(rng.integers(4, 9))):
        start = int(rng.uniform(0, t.size - length))
        f0 = rng.uniform(3000, 4500)
        sweep = np.sin(2 * np.pi * (f0 * chirp_t + 20000 * chirp_t**2))
        wave[start : start + length] += sweep * np.hanning(length)
    return wave


GENERATORS = dict(
    zip(
        CATEGORIES,
        (siren, rain, clock_tick, engine, chirping_birds),
        strict=True,
    )
)


def make_demo_esc50(folder, clips_per_fold=6, seconds=2.0, seed=0):
    """Writes the dataset; returns the number of clips."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(folder, "audio"), exist_ok=True)
    os.makedirs(os.path.join(folder, "meta"), exist_ok=True)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    rows = []
    for target, category in enumerate(CATEGORIES):
        for fold in range(1, 6):
            for take in range(clips_per_fold):
                source = 100000 + 1000 * target + 10 * fold + take
                name = f"{fold}-{source}-A-{target}.wav"
                wave = GENERATORS[category](rng, t)
                wave = wave / (np.abs(wave).max() + 1e-9)
                wave = wave * rng.uniform(0.2, 0.8)
                wave = wave + 0.01 * rng.standard_normal(t.size)
                soundfile.write(
                    os.path.join(folder, "audio", name),
                    wave.astype("float32"),
                    SAMPLE_RATE,
                    subtype="PCM_16",
                )
                rows.append(
                    [name, fold, target, category, "False", source, "A"]
                )
    with open(
        os.path.join(folder, "meta", "esc50.csv"), "w", newline="",
        encoding="utf-8",
    ) as handle:  # fmt: skip
        writer = csv.writer(handle)
        writer.writerow(
            [
                "filename",
                "fold",
                "target",
                "category",
                "esc10",
                "src_file",
                "take",
            ]
        )
        writer.writerows(rows)
    return len(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--clips-per-fold", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    count = make_demo_esc50(
        args.folder, args.clips_per_fold, args.seconds, args.seed
    )
    print(f"Wrote {count} demo clips in the ESC-50 layout to {args.folder}")
