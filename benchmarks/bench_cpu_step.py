"""Training steps of the AudioFolder CPU preset, as it runs them and as
it ran them before 0.12.

Milliseconds per training step (batch of 8 clips of ``--frames`` frames:
98 for one second, 498 for five): the AST student of ``cpu.yaml`` with
its image stem's convolutions in PyTorch's default layout or
channels-last (what ``run_stem_layer`` does in training), with Adam's
per-tensor loop or the fused kernel (the YAMLs' ``fused: true``), and
its image stem's bands averaged by ``nn.AvgPool2d`` (before 0.13) or
``BandMean``; the same student with its image stem stepping every fourth
mel bin (``image_stem_stride 4``), and with a 128-channel time stem too;
the ECAPA-TDNN teacher of ``cnn_teacher.yaml`` with each Adam; the
teacher's forward pass alone (what the student's stage runs on every
batch); and the Kaldi fbank of the batch's waveforms (every clip, as
before 0.13, or half of them: the mixed clips, the others kept,
``fbank_cache_mb``). The variants take turns in one process,
``--rounds`` rounds of ``--steps`` steps; the table gives each one's
median and its speed-up over the first row of its model.

Usage::

    python benchmarks/bench_cpu_step.py [--rounds 8] [--steps 15] \
        [--frames 98]

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import os
import statistics
import sys
import time

import torch
from hyperpyyaml import load_hyperpyyaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_common import header  # noqa: E402

import ast_lobes.model.encoder as encoder_module  # noqa: E402
from ast_lobes import KaldiFbank  # noqa: E402

HPARAMS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "recipes",
    "AudioFolder", "hparams",
)  # fmt: skip
BATCH, FRAMES, CLASSES = 8, 98, 35


def build(yaml_name, **settings):
    """The encoder and head of a preset, as its YAML builds them (with
    ``settings`` overriding its keys)."""
    overrides = {
        "n_classes": CLASSES, "target_length": FRAMES,
        "output_folder": os.path.join("results", "bench_cpu_step"),
        **settings,
    }  # fmt: skip
    with open(os.path.join(HPARAMS, yaml_name)) as file:
        hparams = load_hyperpyyaml(file, overrides)
    return torch.nn.ModuleList([hparams["encoder"], hparams["classifier"]])


def default_layout(layer, image):
    """The stem as before 0.12: every layer in the default layout."""
    return layer(image)


def training_step(model, optimizer, feats):
    """One step of cross-entropy on random labels."""
    encoder, head = model
    logits = head(encoder(feats)).reshape(len(feats), -1)
    labels = torch.arange(len(feats)) % logits.shape[-1]
    loss = torch.nn.functional.cross_entropy(logits.float(), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def variants():
    """``(name, stem layout, step function)`` of each measured variant,
    and the teacher (trained in its rows, evaluated in the last)."""
    torch.manual_seed(0)
    student, teacher = build("cpu.yaml"), build("cnn_teacher.yaml")
    feats = torch.randn(BATCH, FRAMES, 128)
    runs = []
    band_mean = student[0].patch_embed.image_pool
    for layout, fused, pool in (
        ("default", False, "AvgPool2d"), ("default", True, "AvgPool2d"),
        ("channels-last", False, "AvgPool2d"),
        ("channels-last", True, "AvgPool2d"),
        ("channels-last", True, "BandMean"),
    ):  # fmt: skip
        opt = torch.optim.AdamW(student.parameters(), 1e-3, fused=fused)
        pooling = band_mean
        if pool == "AvgPool2d":
            pooling = torch.nn.AvgPool2d((band_mean.width, 1))

        def step(opt=opt, pooling=pooling):
            student[0].patch_embed.image_pool = pooling
            training_step(student, opt, feats)

        runs.append((
            f"AST student, stem {layout}, Adam "
            f"{'fused' if fused else 'per tensor'}, bands {pool}",
            layout, step,
        ))  # fmt: skip
    for settings in (
        {"image_stem_stride": 4},
        {"image_stem_stride": 4, "stem_channels": 128},
    ):
        model = build("cpu.yaml", **settings)
        opt = torch.optim.AdamW(model.parameters(), 1e-3, fused=True)
        runs.append((
            "AST student, stem channels-last, Adam fused, bands BandMean, "
            + ", ".join(f"{key} {value}" for key, value in settings.items()),
            "channels-last",
            lambda model=model, opt=opt: training_step(model, opt, feats),
        ))  # fmt: skip
    for fused in (False, True):
        opt = torch.optim.Adam(teacher.parameters(), 1e-3, fused=fused)
        runs.append((
            f"ECAPA teacher, Adam {'fused' if fused else 'per tensor'}",
            "default", lambda opt=opt: training_step(teacher, opt, feats),
        ))  # fmt: skip

    def teacher_forward():
        with torch.no_grad():
            teacher[0](feats)

    teacher.eval()
    runs.append(("ECAPA teacher, forward only", "default", teacher_forward))
    fbank = KaldiFbank(target_length=FRAMES)
    samples = 400 + 160 * (FRAMES - 1)  # FRAMES frames of 25 ms every 10
    wavs = torch.randn(BATCH, samples)
    for clips in (BATCH, BATCH // 2):
        runs.append((
            f"fbank of {clips} of the {BATCH} clips, forward only",
            "default", lambda clips=clips: fbank(wavs[:clips]),
        ))  # fmt: skip
    return runs, teacher


def main(argv=None):
    global FRAMES
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--frames", type=int, default=FRAMES)
    args = parser.parse_args(argv)
    FRAMES = args.frames
    runs, teacher = variants()
    channels_last = encoder_module.run_stem_layer
    times = {name: [] for name, _, _ in runs}
    for _ in range(args.rounds):
        for name, layout, step in runs:
            encoder_module.run_stem_layer = (
                channels_last if layout == "channels-last" else default_layout
            )
            teacher.train(not name.endswith("forward only"))
            for _ in range(3):
                step()
            started = time.perf_counter()
            for _ in range(args.steps):
                step()
            times[name].append((time.perf_counter() - started) / args.steps)
    encoder_module.run_stem_layer = channels_last
    print(header())
    print()
    print(f"| step (batch {BATCH}, {FRAMES} frames) | ms (median) | speed-up |")
    print("|---|---|---|")
    first = {}
    for name, _, _ in runs:
        ms = 1000 * statistics.median(times[name])
        if name.endswith("forward only"):
            print(f"| {name} | {ms:.1f} | - |")
            continue
        group = name.split(",")[0]
        first.setdefault(group, ms)
        print(f"| {name} | {ms:.1f} | {first[group] / ms:.2f}x |")


if __name__ == "__main__":
    main()
