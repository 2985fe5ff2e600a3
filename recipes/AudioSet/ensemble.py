#!/usr/bin/env python3
"""Ensembles trained AudioSet experiments: the mean of their sigmoid outputs.

Each argument is an experiment's output folder (its
``predictions/<--predictions>.npz`` is used, by default the weight-averaged
model's eval scores) or a predictions ``.npz`` file. Clips are matched by
id. Prints mAP, mAUC and d-prime, and writes them as JSON with ``--output``.

Ensemble-S (three seeds at stride 10) and Ensemble-M (those and strides 12,
14 and 16)::

    python ensemble.py results/AudioSet/full/{1,2,3} --output ens_s.json
    python ensemble.py results/AudioSet/full/{1,2,3} \
        results/AudioSet/full_stride{12,14,16}/1 --output ens_m.json

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
sys.path.insert(0, os.path.abspath(ROOT))

from ast_lobes.training.evaluation.averaging import ensemble_scores  # noqa: E402


def predictions_file(source, name):
    """The predictions file of an experiment folder, or ``source`` itself."""
    path = source
    if os.path.isdir(source):
        path = os.path.join(source, "predictions", f"{name}.npz")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no predictions file")
    return path


def ensemble(sources, name="weight_averaged"):
    """mAP, mAUC and d-prime of the mean scores of ``sources``."""
    paths = [predictions_file(source, name) for source in sources]
    return {"members": paths, **ensemble_scores(paths)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sources", nargs="+")
    parser.add_argument(
        "--predictions",
        default="weight_averaged",
        help="predictions name in an experiment folder (weight_averaged, "
        "valid_epoch5, ...)",
    )
    parser.add_argument("--output", help="write the result as JSON here")
    args = parser.parse_args(argv)
    result = ensemble(args.sources, args.predictions)
    print(
        f"Ensemble of {len(result['members'])} models over {result['clips']} "
        f"clips: mAP {result['mAP']:.4f}, mAUC {result['mAUC']:.4f}, "
        f"d-prime {result['d_prime']:.4f}"
    )
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=1)
    return result


if __name__ == "__main__":
    main()
