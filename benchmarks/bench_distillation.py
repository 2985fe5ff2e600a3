"""Inference speed of the AudioFolder distillation pair: the ECAPA-TDNN
teacher (``hparams/cnn_teacher.yaml``) against the tiny AST student
(``hparams/cpu.yaml``, two heads), on the same 1-s fbank inputs (99
frames, 128 mel), in one process, timed alternately (median of the
repeats), with the machine's CPU class.

Usage::

    python benchmarks/bench_distillation.py [--batch 8] [--repeats 20]
"""

import argparse
import os
import statistics
import sys
import time

import torch
from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ast_lobes import AudioSpectrogramTransformer  # noqa: E402
from ast_lobes.inference.hardware import detect_hardware  # noqa: E402
from ast_lobes.model.head import (  # noqa: E402
    AudioClassificationHead,
    DistillationHead,
)


def models(n_classes=35, frames=99):
    """``{name: (module, parameters)}`` built as the recipe's presets."""
    torch.manual_seed(0)
    teacher = torch.nn.Sequential(
        ECAPA_TDNN(128, lin_neurons=128, channels=[128, 128, 128, 128, 384]),
        AudioClassificationHead(128, n_classes),
    )
    student = torch.nn.Sequential(
        AudioSpectrogramTransformer(
            model_size=None, embed_dim=64, depth=2, num_heads=4,
            target_length=frames, fstride=10, tstride=10,
            pooling="mean_dist_pair",
        ),
        DistillationHead(64, n_classes),
    )  # fmt: skip
    return {
        name: (model.eval(), sum(p.numel() for p in model.parameters()))
        for name, model in (
            ("ECAPA-TDNN teacher", teacher),
            ("AST student 64x2", student),
        )  # fmt: skip
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    built = models()
    fbank = torch.randn(args.batch, 99, 128)
    times = {name: [] for name in built}
    with torch.inference_mode():
        for model, _ in built.values():
            model(fbank)
        for _ in range(args.repeats):
            for name, (model, _) in built.items():
                start = time.perf_counter()
                model(fbank)
                times[name].append(time.perf_counter() - start)
    cpu = detect_hardware("cpu").describe()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{cpu}, fp32, batch {args.batch}")  # fmt: skip
    print("| model | parameters | clips/s |")
    print("|---|---|---|")
    for name, (_, parameters) in built.items():
        rate = args.batch / statistics.median(times[name])
        print(f"| {name} | {parameters / 1e6:.2f} M | {rate:.0f} |")


if __name__ == "__main__":
    main()
