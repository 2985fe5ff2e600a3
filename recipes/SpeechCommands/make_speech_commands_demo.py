#!/usr/bin/env python3
"""Writes a tiny synthetic Speech Commands V2 in the official layout.

One folder per word (the 35 real words), clips named
``<speaker>_nohash_<n>.wav`` at 16 kHz and at most one second long,
``validation_list.txt`` and ``testing_list.txt`` splitting the speakers,
and ``_background_noise_/`` with noise recordings that are not a class.
Each word is a chord of its own two tones, so that a model can learn it.

To run::

    python make_speech_commands_demo.py demo_data/speech_commands

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import os

import numpy as np
import soundfile

WORDS = (
    "backward bed bird cat dog down eight five follow forward four go happy "
    "house learn left marvin nine no off on one right seven sheila six stop "
    "three tree two up visual wow yes zero"
).split()
SAMPLE_RATE = 16000


def word_clip(word_index, rng, seconds):
    """A noisy two-tone chord identifying the word."""
    time = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    low = 200.0 * 1.08 ** (word_index % 18)
    high = 1500.0 + 120.0 * word_index
    wave = np.sin(2 * np.pi * low * time) + 0.6 * np.sin(
        2 * np.pi * high * time
    )
    wave += 0.3 * rng.standard_normal(time.size)
    return (0.2 * wave).astype(np.float32)


def make_demo_speech_commands(folder, speakers_per_split=(2, 1, 1), seed=0):
    """Writes the layout; returns the number of clips per split.

    Arguments
    ---------
    folder : str
        Output folder (created).
    speakers_per_split : tuple
        Speakers in train, validation and test; each says every word once.
    seed : int
        Random seed.

    Returns
    -------
    dict
        ``train``, ``valid``, ``test`` clip counts.
    """
    rng = np.random.default_rng(seed)
    lists = {"train": [], "valid": [], "test": []}
    for split, n_speakers in zip(lists, speakers_per_split, strict=True):
        for _ in range(n_speakers):
            speaker = f"{rng.integers(16**8):08x}"
            for index, word in enumerate(WORDS):
                os.makedirs(os.path.join(folder, word), exist_ok=True)
                relative = f"{word}/{speaker}_nohash_0.wav"
                seconds = float(rng.choice([1.0, 1.0, 0.8]))
                soundfile.write(
                    os.path.join(folder, relative),
                    word_clip(index, rng, seconds),
                    SAMPLE_RATE,
                )
                lists[split].append(relative)
    noise_folder = os.path.join(folder, "_background_noise_")
    os.makedirs(noise_folder, exist_ok=True)
    for name in ("white_noise.wav", "pink_noise.wav"):
        noise = 0.1 * rng.standard_normal(3 * SAMPLE_RATE).astype(np.float32)
        soundfile.write(os.path.join(noise_folder, name), noise, SAMPLE_RATE)
    with open(os.path.join(noise_folder, "README.md"), "w") as handle:
        handle.write("Background noise recordings (not a class).\n")
    for split, name in (
        ("valid", "validation_list.txt"),
        ("test", "testing_list.txt"),
    ):
        with open(os.path.join(folder, name), "w") as handle:
            handle.write("".join(f"{clip}\n" for clip in lists[split]))
    return {split: len(clips) for split, clips in lists.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    counts = make_demo_speech_commands(args.folder, seed=args.seed)
    print(f"Wrote {counts} clips to {args.folder}")


if __name__ == "__main__":
    main()
