#!/usr/bin/env python3
"""Writes long recordings with sound events of the demo classes at known
times over background noise, and their reference event list, to measure
sound event detection (``evaluate_events.py``).

Each file holds 3 to 6 events of 1 to 3 s (the demo's siren, rain, clock,
engine and birds generators) that never overlap, over low pink-ish noise;
``events.tsv`` lists ``filename``, ``onset``, ``offset``, ``event_label``
(the DCASE layout sed_eval reads).

Usage::

    python make_event_data.py OUTPUT_FOLDER [--files 12] [--seconds 20]

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import csv
import os

import numpy as np
import soundfile
from make_demo_data import CATEGORIES, GENERATORS, SAMPLE_RATE


def background(rng, samples):
    """Noise falling with frequency, quieter than the events."""
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    spectrum /= np.sqrt(np.arange(1, spectrum.size + 1))
    noise = np.fft.irfft(spectrum, n=samples)
    return 0.05 * noise / (np.abs(noise).max() + 1e-9)


def place_events(rng, seconds, count):
    """Non-overlapping ``(onset, offset)`` pairs, sorted, 0.5 s apart."""
    events = []
    for _ in range(200):
        if len(events) == count:
            break
        length = rng.uniform(1.0, 3.0)
        onset = rng.uniform(0.2, seconds - length - 0.2)
        if all(onset > end + 0.5 or onset + length < start - 0.5
               for start, end in events):  # fmt: skip
            events.append((onset, onset + length))
    return sorted(events)


def make_event_data(folder, files=12, seconds=20.0, seed=0):
    """Writes the recordings and ``events.tsv``; returns the event rows."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(folder, "audio"), exist_ok=True)
    rows = []
    for number in range(files):
        name = f"scene{number:02d}.wav"
        wave = background(rng, int(seconds * SAMPLE_RATE))
        for onset, offset in place_events(rng, seconds,
                                          int(rng.integers(3, 7))):  # fmt: skip
            label = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
            first, last = int(onset * SAMPLE_RATE), int(offset * SAMPLE_RATE)
            t = np.arange(last - first) / SAMPLE_RATE
            event = GENERATORS[label](rng, t)
            event = event / (np.abs(event).max() + 1e-9)
            ramp = np.minimum(1, np.minimum(t, t[::-1]) / 0.02)  # 20 ms fades
            wave[first:last] += event * ramp * rng.uniform(0.3, 0.8)
            rows.append([name, round(onset, 3), round(offset, 3), label])
        soundfile.write(os.path.join(folder, "audio", name),
                        wave.astype("float32"), SAMPLE_RATE,
                        subtype="PCM_16")  # fmt: skip
    with open(os.path.join(folder, "events.tsv"), "w", newline="",
              encoding="utf-8") as handle:  # fmt: skip
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["filename", "onset", "offset", "event_label"])
        writer.writerows(rows)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--files", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = make_event_data(args.folder, args.files, args.seconds, args.seed)
    print(
        f"Wrote {args.files} recordings with {len(rows)} events to "
        f"{args.folder} (reference: events.tsv)"
    )
