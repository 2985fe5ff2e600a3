#!/usr/bin/env python3
"""The README's demo: five-fold ESC-50 training on synthetic data, on a CPU.

1. writes a small seeded dataset in the real ESC-50 layout;
2. runs ``train.py hparams/demo.yaml`` (five folds, progress shown);
3. loads fold 1's exported model with SpeechBrain's
   ``EncoderClassifier.from_hparams`` and classifies one held-out clip of
   each class, printing the true and the predicted label.

Usage::

    python recipes/ESC50/demo.py [--output demo_output]

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from make_demo_data import make_demo_esc50  # noqa: E402


def read_meta_rows(data):
    """Rows of the demo's meta/esc50.csv."""
    with open(os.path.join(data, "meta", "esc50.csv"), newline="") as handle:
        return list(csv.reader(handle))[1:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="demo_output")
    args = parser.parse_args()
    start = time.time()
    data = os.path.abspath(os.path.join(args.output, "ESC-50-demo"))
    experiment = os.path.abspath(os.path.join(args.output, "esc50"))
    if not os.path.isfile(os.path.join(data, "meta", "esc50.csv")):
        count = make_demo_esc50(data)
        print(
            f"[demo] wrote {count} synthetic clips in the ESC-50 layout: {data}"
        )
    print("[demo] five-fold training of a small AST on the CPU...", flush=True)
    subprocess.run(
        [
            sys.executable, os.path.join(HERE, "train.py"),
            os.path.join(HERE, "hparams", "demo.yaml"),
            "--data_folder", data,
            "--experiment_folder", experiment,
        ],
        check=True,
    )  # fmt: skip
    with open(os.path.join(experiment, "cross_validation.json")) as handle:
        summary = json.load(handle)

    from speechbrain.inference.classifiers import EncoderClassifier

    model_dir = os.path.join(experiment, "fold1", "model")
    classifier = EncoderClassifier.from_hparams(
        source=model_dir,
        hparams_file="hyperparams.yaml",
        savedir=os.path.join(args.output, "pretrained_fold1"),
    )
    audio = os.path.join(data, "audio")
    first_of_class = {}
    for name in sorted(os.listdir(audio)):
        if name.startswith("1-"):  # fold 1: held out from this model
            first_of_class.setdefault(name.rsplit("-", 1)[1], name)
    names = {row[0]: row[3] for row in read_meta_rows(data)}
    for clip in first_of_class.values():
        label = classifier.classify_file(os.path.join(audio, clip))[3][0]
        print(f"[demo] {clip} (true: {names[clip]}) -> predicted: {label}")
    mean = 100 * summary["last_epoch"]["mean"]
    print(
        f"[demo] five-fold accuracy at the last epoch: {mean:.1f}% (chance 20%)"
    )
    print(f"[demo] done in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
