#!/usr/bin/env python3
"""Trains a pretrained source for the transfer preset
(``cpu_transfer.yaml``) on some of the small sets pooled: the AST alone
preset (``stem_frames_shift`` of ``run_presets.py``) of ``cpu.yaml`` on
one table of their clips (labels and groups kept apart by the set's
name), split as every set is (by group, 15 % validation, 20 % test, seed
1986), for ``--number_of_epochs`` (the learning-rate decay moved in
proportion) or a time budget. Its exported model folder is the source
the other sets are transferred to (``run_presets.py --pretrained``).

To run (from the repository root; LOG.md beside this file records what
was measured)::

    python benchmarks/audiofolder/make_source.py small_sets \
        --sets words notes --output results/source_words_notes \
        --number_of_epochs 20

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import csv
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from run_presets import (  # noqa: E402
    HPARAMS,
    PRESETS,
    RECIPE,
    SPLIT,
    named_options,
)


def pooled_table(sets_dir, sets, path):
    """One table of the sets' clips (absolute paths), each label and
    group prefixed by its set's name; returns its path."""
    rows = []
    for name in sets:
        folder = os.path.abspath(os.path.join(sets_dir, name))
        with open(os.path.join(folder, "clips.csv"), newline="") as handle:
            for row in csv.DictReader(handle):
                rows.append({
                    "path": os.path.join(folder, row["path"]),
                    "label": f"{name}_{row['label']}",
                    "group": f"{name}_{row['group']}",
                })  # fmt: skip
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["path", "label", "group"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets_dir")
    parser.add_argument("--sets", nargs="+", default=["words", "notes"])
    parser.add_argument("--output", default="results/source_words_notes")
    parser.add_argument("--preset", default="stem_frames_shift",
                        choices=sorted(PRESETS))  # fmt: skip
    parser.add_argument("--number_of_epochs", type=int, default=20)
    parser.add_argument(
        "--time_budget",
        type=float,
        default=None,
        help="minutes for the source's training",
    )
    args = parser.parse_args(argv)
    table = pooled_table(args.sets_dir, args.sets,
                         os.path.join(args.output, "clips.csv"))  # fmt: skip
    yaml, overrides, _ = PRESETS[args.preset]
    epochs = args.number_of_epochs
    overrides = named_options(overrides, [
        "--number_of_epochs", str(epochs),
        "--lr_milestone_start", str(round(epochs * 2 / 3)),
    ])  # fmt: skip
    command = [
        sys.executable, os.path.join(RECIPE, "train.py"),
        os.path.join(HPARAMS, yaml), "--table", table, *SPLIT,
        "--seed", "1986", "--output_folder",
        os.path.join(args.output, "run"), *overrides,
    ]  # fmt: skip
    if args.time_budget:
        command += ["--time_budget", str(args.time_budget)]
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True)
    print(f"source: {os.path.join(args.output, 'run', 'model')}")


if __name__ == "__main__":
    main()
