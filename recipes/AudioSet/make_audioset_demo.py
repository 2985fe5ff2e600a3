#!/usr/bin/env python3
"""Writes a tiny synthetic AudioSet in the official on-disk layout.

``class_labels_indices.csv`` with the first ``n_labels`` official labels,
the three segment CSVs with their comment header lines and quoted label
lists, and a clips folder using the common namings (``<YTID>.wav``,
``Y<YTID>.wav``, ``<YTID>_<start>.flac``, in subfolders), some of them at
32 kHz. A few listed clips are missing on purpose and one is corrupt, as in
any real download (``--clean``: none). Each label is a tone of its own; a
clip sounds all of its labels.

To run::

    python make_audioset_demo.py demo_data/audioset
    # bigger: 400 + 0 + 100 clips of 4 s, 10 labels, all readable
    python make_audioset_demo.py demo_data/audioset_400 --balanced 400 \
        --unbalanced 0 --eval 100 --seconds 4 --n_labels 10 --clean

Options: ``--n_labels`` (4, of the 527 official labels),
``--balanced``, ``--unbalanced``, ``--eval`` (segments listed in each
segment list: 24, 8, 12), ``--seconds`` (2.0, each clip), ``--seed`` (0),
``--clean``.

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import csv
import os

import numpy as np
import soundfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
OFFICIAL_LABELS = os.path.join(
    ROOT, "ast_lobes", "resources", "audioset_class_labels_indices.csv"
)
HEADER = (
    "# Segments csv created Sun Mar  5 10:54:31 2017\n"
    "# num_ytids={n}, num_segs={n}, num_pos_labels={p}\n"
    "# YTID, start_seconds, end_seconds, positive_labels\n"
)


def official_labels(n_labels):
    """The first ``n_labels`` official (mid, name) pairs."""
    with open(OFFICIAL_LABELS, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [(r["mid"], r["display_name"]) for r in rows[:n_labels]]


def clip_audio(label_indices, rng, sample_rate, seconds):
    """A noisy sum of the labels' tones."""
    time = np.arange(int(seconds * sample_rate)) / sample_rate
    wave = 0.2 * rng.standard_normal(time.size)
    for index in label_indices:
        wave += np.sin(2 * np.pi * (300.0 + 450.0 * index) * time)
    return (0.1 * wave).astype(np.float32)


def write_segments(path, segments):
    """Writes an official-style segment CSV."""
    labels = sum(len(mids) for _, mids in segments)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(HEADER.format(n=len(segments), p=labels))
        for ytid, mids in segments:
            handle.write(f'{ytid}, 30.000, 40.000, "{",".join(mids)}"\n')


def make_demo_audioset(
    folder, n_labels=4, clips=(24, 8, 12), seconds=2.0, seed=0, clean=False
):
    """Writes the layout.

    Arguments
    ---------
    folder : str
        Output folder: ``class_labels_indices.csv``, the segment CSVs and
        ``audio/``.
    n_labels : int
        Number of labels (the first official ones).
    clips : tuple
        Segments listed in balanced train, unbalanced train and eval.
    seconds : float
        Clip duration.
    seed : int
        Random seed.
    clean : bool
        Every listed clip written and readable (no missing or corrupt
        ones).

    Returns
    -------
    dict
        ``missing`` and ``corrupt`` (YTID lists).
    """
    rng = np.random.default_rng(seed)
    labels = official_labels(n_labels)
    os.makedirs(os.path.join(folder, "audio", "part1"), exist_ok=True)
    with open(
        os.path.join(folder, "class_labels_indices.csv"), "w", newline="",
        encoding="utf-8",
    ) as handle:  # fmt: skip
        writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC)
        handle.write("index,mid,display_name\n")
        for index, (mid, name) in enumerate(labels):
            writer.writerow([index, mid, name])
    files = (
        "balanced_train_segments.csv",
        "unbalanced_train_segments.csv",
        "eval_segments.csv",
    )
    made = {"missing": [], "corrupt": []}
    count = 0
    for name, n_clips in zip(files, clips, strict=True):
        segments = []
        for _ in range(n_clips):
            count += 1
            ytid = f"{count:03d}" + "".join(
                rng.choice(list("abcdefghijkLMNOP-_"), 8)
            )
            first = count % n_labels
            chosen = [first]
            if rng.random() < 0.4:
                chosen.append(int(rng.integers(n_labels)))
            chosen = sorted(set(chosen))
            segments.append((ytid, [labels[i][0] for i in chosen]))
            if count % 11 == 5 and not clean:
                made["missing"].append(ytid)
                continue
            style = count % 3
            sample_rate = 32000 if count % 4 == 0 else 16000
            subfolder = "part1" if style == 2 else ""
            stem = [ytid, f"Y{ytid}", f"{ytid}_30.000"][style]
            extension = ".flac" if style == 2 else ".wav"
            path = os.path.join(folder, "audio", subfolder, stem + extension)
            if count % 13 == 7 and not clean:
                with open(path, "wb") as handle:
                    handle.write(b"this is not audio")
                made["corrupt"].append(ytid)
                continue
            soundfile.write(
                path, clip_audio(chosen, rng, sample_rate, seconds),
                sample_rate,
            )  # fmt: skip
        write_segments(os.path.join(folder, name), segments)
    return made


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder")
    parser.add_argument(
        "--n_labels",
        type=int,
        default=4,
        help="labels (the first official ones)",
    )
    for split, default in (("balanced", 24), ("unbalanced", 8), ("eval", 12)):
        parser.add_argument(
            f"--{split}",
            type=int,
            default=default,
            help=f"segments listed in the {split} list",
        )
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="duration of each clip"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--clean", action="store_true", help="no missing or corrupt clips"
    )
    args = parser.parse_args(argv)
    known = len(official_labels(None))
    sizes = (args.balanced, args.unbalanced, args.eval)
    if not 1 <= args.n_labels <= known or min(sizes) < 0 or args.seconds <= 0:
        parser.error(
            f"--n_labels must be 1 to {known}, the clip counts 0 or more and "
            "--seconds more than 0"
        )
    made = make_demo_audioset(
        args.folder, args.n_labels, sizes, args.seconds, args.seed,
        args.clean,
    )  # fmt: skip
    print(
        f"Wrote a demo AudioSet to {args.folder} ({sum(sizes)} segments, "
        f"{args.n_labels} labels): missing {made['missing']}, corrupt "
        f"{made['corrupt']}"
    )


if __name__ == "__main__":
    main()
