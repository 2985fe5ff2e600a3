#!/usr/bin/env python3
"""AudioSet (balanced or full) multi-label tagging with the AST.

Trains with BCE on multi-hot targets and mixup, evaluates mAP, mAUC and
d-prime on the eval set after every epoch (the reference protocol), keeps
every epoch's checkpoint, then evaluates and exports the weight average of
the ``average_epochs`` checkpoints and the checkpoint ensemble (the mean of
every epoch's sigmoid outputs). ``results.json`` sums it up.

To run::

    python train.py hparams/balanced.yaml --csv_folder /data/audioset \
        --clips_folder /data/audioset/audio

Multi-GPU (SpeechBrain DDP)::

    torchrun --nproc_per_node=4 train.py hparams/full.yaml ...

Authors
 * AST-SpeechBrain contributors 2026
"""

import json
import os
import sys

import speechbrain as sb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from audioset_prepare import prepare_audioset, prepare_options  # noqa: E402

from ast_lobes.training.data.shards import names_shard_folder  # noqa: E402
from ast_lobes.training.evaluation.averaging import (  # noqa: E402
    average_checkpoint_weights,
    ensemble_scores,
    epoch_checkpoints,
)
from ast_lobes.training.evaluation.metrics_file import read_metrics  # noqa: E402
from ast_lobes.training.evaluation.thresholds import f1_thresholds  # noqa: E402
from ast_lobes.training.recipe import (  # noqa: E402
    end_distributed,
    export_model,
    load_experiment,
    parse_overrides,
    run_main,
    train_classifier,
)


def evaluate_weight_average(trained, hparams):
    """Loads the averaged weights into a ``TrainedClassifier``'s modules,
    evaluates them and exports the model."""
    brain = trained.brain
    first, last = hparams["average_epochs"]
    checkpoints = epoch_checkpoints(hparams["checkpointer"], first, last)
    averaged = average_checkpoint_weights(checkpoints)
    hparams["encoder"].load_state_dict(averaged["encoder"])
    hparams["classifier"].load_state_dict(averaged["classifier"])
    brain.evaluate_current_weights(
        trained.datasets["valid"],
        hparams["valid_dataloader_opts"],
        "weight_averaged",
    )
    _, scores, targets = brain.scores.stacked()
    if sb.utils.distributed.if_main_process() and not brain.test_only:
        export_model(
            hparams, hparams["averaged_export_folder"], trained.label_encoder,
            f1_thresholds(scores, targets),
        )  # fmt: skip
    return brain.last_stats


def checkpoint_ensemble(hparams, epochs):
    """mAP of the mean sigmoid outputs of every epoch's model."""
    paths = [
        os.path.join(hparams["predictions_folder"], f"valid_epoch{e}.npz")
        for e in epochs
    ]
    scores = ensemble_scores(paths)
    return {key: scores[key] for key in ("mAP", "mAUC", "d_prime")}


def report_results(hparams, averaged):
    """Writes and prints ``results.json`` (main process)."""
    per_epoch = read_metrics(hparams["metrics_file"], "mAP")
    best = max(per_epoch, key=per_epoch.get)
    last = max(per_epoch)
    results = {
        "last_epoch": {"epoch": last, "mAP": per_epoch[last]},
        "best_epoch": {"epoch": best, "mAP": per_epoch[best]},
        "weight_averaged": {
            "epochs": list(hparams["average_epochs"]),
            **{k: averaged[k] for k in ("mAP", "mAUC", "d_prime")},
        },
        "checkpoint_ensemble": {
            "epochs": sorted(per_epoch),
            **checkpoint_ensemble(hparams, sorted(per_epoch)),
        },
    }
    path = os.path.join(hparams["output_folder"], "results.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1)
    print("AudioSet eval mAP")
    for name, result in results.items():
        print(f"  {name}: {result['mAP']:.4f}")
    print(f"(written to {path})")


def main():
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    sb.utils.distributed.ddp_init_group(run_opts)
    overrides = parse_overrides(overrides)
    hparams = load_experiment(hparams_file, overrides)
    # shards written beforehand hold the training clips: only eval is read
    shards = hparams.get("train_shards")
    from_shards = bool(shards) and not names_shard_folder(shards)
    splits = ("eval",) if from_shards else ("train", "eval")
    sb.utils.distributed.run_on_main(
        prepare_audioset, kwargs=prepare_options(hparams, splits)
    )
    manifests = {"valid": os.path.join(hparams["save_folder"], "eval.csv")}
    if not from_shards:
        manifests["train"] = os.path.join(hparams["save_folder"], "train.csv")
    trained = train_classifier(hparams, run_opts, manifests)
    averaged = evaluate_weight_average(trained, hparams)
    if sb.utils.distributed.if_main_process():
        report_results(hparams, averaged)
    end_distributed()


if __name__ == "__main__":
    run_main(main)
