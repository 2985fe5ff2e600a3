#!/usr/bin/env python3
"""The transfer preset's costs (``recipes/AudioFolder/hparams/
cpu_transfer.yaml``) for AST-Base at its real size (the published
AST-Base's architecture: 768 wide, 12 blocks, 16x16 patches at strides
10 and 10; random weights, which cost what trained ones do).

* **Stored outputs**: what the first run computes once per clip
  (``ast_lobes.training.transfer.StoredOutputs``: the fbank, the
  encoder in the precision ``auto`` picks among the modes that run
  PyTorch's blocks, every block's pooled output), timed on a subset of
  random clips after a warm-up batch and extrapolated to 1,400
  one-second and 400 five-second clips.
* **A head epoch**: the real ``TransferBrain`` (checkpoints, logs and
  validation included) over stored rows of 1,400 training and 300
  validation clips with a ``BlockWeightedHead``, in one thread as the
  recipe trains its heads; the mean of the epochs after the first.
* **An epoch with tuned blocks**: the last 1 or 2 blocks and the head
  trained from stored tokens of one-second clips (training steps of 16
  clips, validation batches of 32), timed on a few batches and
  extrapolated to 1,400 training and 300 validation clips.

Usage::

    python benchmarks/bench_transfer.py [--one_second 48] [--five_second 16]

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_common import header  # noqa: E402

from ast_lobes import (  # noqa: E402
    AudioClassificationPipeline,
    AudioSpectrogramTransformer,
    BlockWeightedHead,
    FbankNormalization,
    KaldiFbank,
)
from ast_lobes.training.transfer import (  # noqa: E402
    StoredOutputs,
    TransferModel,
    encoder_precision,
    torch_threads,
)

TRAIN, VALID, CLASSES = 1400, 300, 10
FEATURE_BATCH, TUNED_BATCH, VALID_BATCH = 8, 16, 32


def ast_base(frames):
    """AST-Base (the published one's architecture), random weights."""
    torch.manual_seed(0)
    return AudioSpectrogramTransformer(
        model_size="base384", target_length=frames, fstride=10, tstride=10,
        pooling="blocks_cls_dist",
    ).eval()  # fmt: skip


def cpu_name():
    """The CPU's model name (``/proc/cpuinfo``)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def stored_seconds(seconds, clips, frames, precision):
    """Seconds per clip of the stored outputs of ``clips`` random clips
    of ``seconds`` (after one warm-up batch)."""
    encoder = ast_base(frames)
    front = AudioClassificationPipeline(
        KaldiFbank(target_length=frames), FbankNormalization("audioset"),
        encoder, torch.nn.Identity(),
    )  # fmt: skip
    compute = StoredOutputs(front, precision, first=None)
    samples = int(seconds * 16000)
    wavs = torch.randn(FEATURE_BATCH, samples) * 0.1
    lens = torch.ones(FEATURE_BATCH)
    compute(wavs, lens)  # warm-up
    start = time.perf_counter()
    for _ in range(max(1, clips // FEATURE_BATCH)):
        compute(wavs, lens)
    done = max(1, clips // FEATURE_BATCH) * FEATURE_BATCH
    return (time.perf_counter() - start) / done


def head_epoch_seconds(epochs):
    """Seconds per epoch of the real TransferBrain over stored rows."""
    import speechbrain as sb

    from ast_lobes import ReferenceLRSchedule
    from ast_lobes.training.checkpoints import AtomicCheckpointer
    from ast_lobes.training.data.feature_store import (
        StackedBatch,
        StoredFeatureDataset,
    )
    from ast_lobes.training.run_settings import RunSettings
    from ast_lobes.training.transfer import TransferBrain

    encoder = ast_base(100)
    generator = np.random.default_rng(0)
    sets = {}
    for split, clips in (("train", TRAIN), ("valid", VALID)):
        rows = generator.normal(size=(clips, 12, 768)).astype(np.float32)
        targets = torch.eye(CLASSES)[torch.arange(clips) % CLASSES]
        sets[split] = StoredFeatureDataset(
            [f"{split}{i}" for i in range(clips)], targets, {"pooled": rows},
            in_memory=("pooled",),
        )  # fmt: skip
    head = BlockWeightedHead(768, CLASSES, 12)
    model = TransferModel(encoder, head, 0, dropout=0.5)
    counter = sb.utils.epoch_loop.EpochCounter(epochs)
    times = []
    with tempfile.TemporaryDirectory() as folder:
        hparams = {
            "loss": "ce", "best_key": "accuracy", "epoch_counter": counter,
            "lr_schedule": ReferenceLRSchedule(1e-3, epochs, 1, 1.0),
            "train_logger": sb.utils.train_logger.FileTrainLogger(
                os.path.join(folder, "log.txt")
            ),
            "classifier": head, "encoder": encoder,
        }  # fmt: skip
        checkpointer = AtomicCheckpointer(
            folder, {"classifier": head, "counter": counter}
        )
        brain = TransferBrain(
            modules={"model": model},
            opt_class=lambda params: torch.optim.AdamW(params, 1e-3,
                                                       fused=True),
            hparams=hparams, run_opts={"noprogressbar": True},
            checkpointer=checkpointer,
            run_settings=RunSettings(label_names=tuple(map(str,
                                                           range(CLASSES)))),
        )  # fmt: skip
        stage_end = brain.on_stage_end

        def timed(stage, loss, epoch=None):
            stage_end(stage, loss, epoch)
            if stage == sb.Stage.VALID:
                times.append(time.perf_counter())

        brain.on_stage_end = timed
        start = time.perf_counter()
        brain.fit(counter, sets["train"], sets["valid"],
                  train_loader_kwargs={"batch_size": 32, "shuffle": True,
                                       "collate_fn": StackedBatch},
                  valid_loader_kwargs={"batch_size": VALID_BATCH,
                                       "collate_fn": StackedBatch})  # fmt: skip
    times.insert(0, start)
    per_epoch = np.diff(times)
    return statistics.fmean(per_epoch[1:]), per_epoch[0]


def tuned_epoch_minutes(tune_blocks, batches, frames=100):
    """Minutes per epoch of the last ``tune_blocks`` blocks and the head
    from stored tokens of one-second clips (``batches`` training steps
    and as many validation batches timed, after one of each)."""
    encoder = ast_base(frames)
    first = 12 - tune_blocks
    for block in encoder.blocks[:first]:
        block.requires_grad_(False)
    head = BlockWeightedHead(768, CLASSES, 12)
    model = TransferModel(encoder, head, tune_blocks).train()
    tokens_count = encoder.num_patches + 2
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, 1e-4, fused=True)
    pooled = torch.randn(TUNED_BATCH, first, 768)
    tokens = torch.randn(TUNED_BATCH, tokens_count, 768)
    targets = torch.eye(CLASSES)[torch.arange(TUNED_BATCH) % CLASSES]

    def step():
        loss = torch.nn.functional.cross_entropy(model(pooled, tokens),
                                                 targets)  # fmt: skip
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()
    start = time.perf_counter()
    for _ in range(batches):
        step()
    train = (time.perf_counter() - start) / (batches * TUNED_BATCH)
    model.eval()
    valid_pooled = torch.randn(VALID_BATCH, first, 768)
    valid_tokens = torch.randn(VALID_BATCH, tokens_count, 768)
    with torch.no_grad():
        model(valid_pooled, valid_tokens)
        start = time.perf_counter()
        for _ in range(batches):
            model(valid_pooled, valid_tokens)
    valid = (time.perf_counter() - start) / (batches * VALID_BATCH)
    return (train * TRAIN + valid * VALID) / 60, tokens_count


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--one_second",
        type=int,
        default=48,
        help="one-second clips timed (after a warm-up)",
    )
    parser.add_argument(
        "--five_second",
        type=int,
        default=16,
        help="five-second clips timed (after a warm-up)",
    )
    parser.add_argument("--head_epochs", type=int, default=5)
    parser.add_argument("--tuned_batches", type=int, default=6,
                        help="training steps (and validation batches) "
                        "timed per tuned-blocks row")  # fmt: skip
    args = parser.parse_args(argv)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    precision = encoder_precision(ast_base(100), "auto")
    print(f"{cpu_name()}; {header()}")
    print(f"stored outputs computed in: {precision} (auto among the modes "
          "that run PyTorch's blocks)\n")  # fmt: skip
    rows = []
    for seconds, clips, total, frames in (
        (1, args.one_second, 1400, 100), (5, args.five_second, 400, 500)
    ):  # fmt: skip
        per_clip = stored_seconds(seconds, clips, frames, precision)
        rows.append((
            f"stored outputs, {total:,} clips of {seconds} s "
            f"({frames} frames)",
            f"{clips} clips timed, extrapolated",
            f"{per_clip * total / 60:.1f} min ({1 / per_clip:.1f} clips/s)",
        ))  # fmt: skip
        print(rows[-1], flush=True)
    with torch_threads(1):  # as the recipe trains its heads
        mean, first = head_epoch_seconds(args.head_epochs)
    rows.append((
        f"a head epoch ({TRAIN:,} + {VALID} clips' stored rows, every "
        "block weighted)",
        f"{args.head_epochs} epochs, mean after the first ({first:.2f} s)",
        f"{mean:.2f} s",
    ))  # fmt: skip
    print(rows[-1], flush=True)
    for tune in (1, 2):
        minutes, count = tuned_epoch_minutes(tune, args.tuned_batches)
        rows.append((
            f"an epoch with --tune_blocks {tune} ({TRAIN:,} + {VALID} "
            f"one-second clips, {count} tokens each)",
            f"{args.tuned_batches} steps of {TUNED_BATCH} and "
            f"{args.tuned_batches} batches of {VALID_BATCH}, extrapolated",
            f"{minutes:.1f} min",
        ))  # fmt: skip
        print(rows[-1], flush=True)
    print("\n| what | measured on | time |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
