#!/usr/bin/env python3
"""Writes three synthetic "speakers" (voices of different pitch) as CSVs.

To run::

    python make_speaker_demo.py demo_data/speakers

Authors
 * AST-SpeechBrain contributors 2026
"""

import csv
import os
import sys

import numpy as np
import soundfile


def make_speaker_demo(folder, clips_per_speaker=(30, 5), seed=0):
    """Writes ``train.csv`` and ``valid.csv`` with ``ID, wav, speaker``."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    for split, count in zip(("train", "valid"), clips_per_speaker, strict=True):
        rows = []
        for speaker, pitch in (("amy", 140.0), ("bob", 260.0), ("cy", 420.0)):
            for index in range(count):
                time = np.arange(int(rng.uniform(0.8, 1.2) * 16000)) / 16000
                wave = sum(
                    np.sin(2 * np.pi * pitch * k * time) / k for k in (1, 2, 3)
                ) + 0.3 * rng.standard_normal(time.size)
                path = os.path.join(folder, f"{split}_{speaker}_{index}.wav")
                soundfile.write(path, (0.1 * wave).astype(np.float32), 16000)
                rows.append(
                    {
                        "ID": f"{split}_{speaker}_{index}",
                        "wav": os.path.abspath(path),
                        "speaker": speaker,
                    }
                )
        with open(os.path.join(folder, f"{split}.csv"), "w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=["ID", "wav", "speaker"])
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    make_speaker_demo(sys.argv[1])
