"""AST-Base against Hugging Face on this CPU, in one table: every
precision mode, ``auto``, and ONNX Runtime's int8 of Hugging Face's own
export, with the top-1 agreement with fp32 of trained models.

One process holds Hugging Face's ``ASTForAudioClassification``
(``attn_implementation="sdpa"``, fp32; ``hf-fp32``), the same model
exported as Optimum exports it and quantised by ONNX Runtime's dynamic
int8 (``hf-ort-int8``), and this project's AST-Base holding the same
random weights in each mode (``fp32``, ``bf16``, ``int8-dynamic``,
``int8-bf16``, ``ort-int8``) and in ``auto`` as a tagger decides it (its
probe here); they are timed alternately on the same batch of 10-s fbank
inputs (1,024 frames), the median of ``--repeats`` per mode, so that load
on the machine hits all alike. A mode this CPU runs slower than fp32 is
timed once and marked. ``--merge-rates`` adds rows of ``auto`` among the
modes that merge tokens with that share merged away; ``--levers`` adds
the variants measured and not made modes (``bench_common.LEVERS``).

Top-1 agreement with fp32: each trained model under ``--models`` (an
experiment folder of the ESC-50 demo or of an AudioFolder run: every
run folder in it holding ``model/`` and ``save/test.csv``) on its test
clips, in each mode, against the same model in fp32 (``auto`` as its
tagger decides it at the model's own token count).

The first line names the CPU class (model name, AMD family, cores,
vector units); the second the probe's figures and ``auto``'s choice.

Usage::

    bash run_demo.sh   # the demo's five fold models, once
    python benchmarks/bench_vs_hf.py [--batch 4] [--repeats 5] \
        [--models demo_output/esc50 ...] [--merge-rates 0.4] [--levers]

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import copy
import csv
import glob
import os
import sys
import tempfile
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_common import (  # noqa: E402
    LEVERS,
    auto_precision,
    build_reference,
    forward_of,
    header,
    run_worker,
    slow_modes,
)

HF_MODES = ("hf-fp32", "hf-ort-int8")
PROJECT_MODES = ("fp32", "bf16", "int8-dynamic", "int8-bf16", "ort-int8",
                 "auto")  # fmt: skip


def run_folders(experiment):
    """The run folders of an experiment: those holding an exported
    ``model`` and the test split ``save/test.csv`` (the folder itself, or
    its folds)."""
    found = []
    for test in sorted(glob.glob(os.path.join(experiment, "**", "test.csv"),
                                 recursive=True)):  # fmt: skip
        run = os.path.dirname(os.path.dirname(test))
        if os.path.isdir(os.path.join(run, "model")):
            found.append(run)
    return found


def test_clips(run):
    """The audio files of a run's test split (its ``wav`` or ``path``
    column)."""
    with open(os.path.join(run, "save", "test.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    column = "wav" if rows and "wav" in rows[0] else "path"
    return [row[column] for row in rows]


def agreement(experiment, modes):
    """``{mode: (agreeing clips, clips)}`` of top-1 agreement with fp32
    over the test clips of every run of ``experiment``."""
    from ast_lobes import load_model_source, read_audio

    counts = {mode: [0, 0] for mode in modes}
    for run in run_folders(experiment):
        pipeline = load_model_source(os.path.join(run, "model")).pipeline
        encoder, head = pipeline.bare_encoder, pipeline.head
        feats = [pipeline.features(read_audio(wav))[0]
                 for wav in test_clips(run)]  # fmt: skip
        with torch.inference_mode(), tempfile.TemporaryDirectory() as tmp:
            exact = [head(encoder(f)).squeeze(1).argmax(-1) for f in feats]
            for mode in modes:
                if mode in slow_modes():
                    continue
                forward = forward_of(mode, copy.deepcopy(encoder), head, tmp)
                for fbank, top in zip(feats, exact, strict=True):
                    same = forward(fbank).argmax(-1) == top
                    counts[mode][0] += int(same.sum())
                    counts[mode][1] += len(fbank)
    return {mode: tuple(n) for mode, n in counts.items() if n[1]}


def name_of(mode, auto):
    """A row's mode as the table shows it."""
    if mode == "auto":
        return f"auto ({auto})"
    if mode.startswith("auto+merge"):
        return f"auto, merge {mode.split('merge')[1]} ({auto})"
    if mode in slow_modes():
        return f"{mode} (slow here, timed once)"
    return mode


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--frames", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--models", nargs="*", default=["demo_output/esc50"],
        help="experiment folders of trained models (ESC-50 demo, "
        "AudioFolder) whose test clips measure the agreement",
    )  # fmt: skip
    parser.add_argument(
        "--merge-rates", nargs="*", type=float, default=[],
        help="rows of auto among the modes that merge, at these rates",
    )  # fmt: skip
    parser.add_argument("--levers", action="store_true",
                        help=f"rows of {', '.join(LEVERS)}")  # fmt: skip
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    modes = [*HF_MODES, *PROJECT_MODES]
    modes += [f"auto+merge{rate:g}" for rate in args.merge_rates]
    modes += list(LEVERS) if args.levers else []
    print(header())
    merging = auto_precision(merging=True)[0]
    models = [m for m in args.models if run_folders(m)]
    for missing in sorted(set(args.models) - set(models)):
        print(f"(no trained models in {missing}: bash run_demo.sh, or "
              "train an AudioFolder model)")  # fmt: skip
    agreed = {m: agreement(m, [x for x in modes if x not in HF_MODES])
              for m in models}  # fmt: skip
    print()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "base")
        build_reference("base", args.frames, path)
        speed = run_worker("speed", args.batch, path, args.frames,
                           args.repeats, ",".join(modes))  # fmt: skip
    columns = ["mode", "s/clip", "vs HF fp32"]
    columns += [f"top-1 agreement with fp32, {m}" for m in models]
    print(f"AST-Base, batch {args.batch} of {args.frames}-frame (10-s) "
          f"inputs, median of {args.repeats}")  # fmt: skip
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for mode in modes:
        auto = merging if "+merge" in mode else auto_precision()[0]
        cells = [name_of(mode, auto), f"{speed[mode]:.3f}",
                 f"{speed['hf-fp32'] / speed[mode]:.2f}x"]  # fmt: skip
        for model in models:
            share = agreed[model].get(mode)
            if mode == "fp32":
                cells.append("100 % (reference)")
            elif share is None:
                cells.append("-")
            else:
                cells.append(f"{100 * share[0] / share[1]:.1f} % of "
                             f"{share[1]}")  # fmt: skip
        print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
