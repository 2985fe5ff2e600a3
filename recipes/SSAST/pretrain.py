#!/usr/bin/env python3
"""Self-supervised pretraining of the Audio Spectrogram Transformer on
your own unlabelled audio by masked patch modelling (SSAST, Gong et al.,
AAAI 2022). The encoder it writes (``encoder/``) starts any recipe of
this project with ``--ssast_weights``.

To run::

    python pretrain.py hparams/cpu.yaml --unlabelled [/path/to/audio]
    python pretrain.py hparams/cpu.yaml \\
        --labelled_manifest results/.../save/train.csv

Authors
 * AST-SpeechBrain contributors 2026
"""

import os
import sys

import speechbrain as sb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ssast_prepare import prepare_pretraining  # noqa: E402

from ast_lobes.training.checkpoints import keep_random_state  # noqa: E402
from ast_lobes.training.pretraining import (  # noqa: E402
    MaskedPatchBrain,
    pretraining_dataset,
)
from ast_lobes.training.recipe import (  # noqa: E402
    end_distributed,
    hold_output_folder,
    load_experiment,
    parse_overrides,
    read_plain_hparams,
    refuse_other_runs,
    run_main,
)
from ast_lobes.weights.self_supervised import (  # noqa: E402
    save_pretrained_encoder,
)


def as_list(value):
    """A YAML value that may be one path or a list of them."""
    if not value:
        return []
    return [value] if isinstance(value, str) else list(value)


def main():
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    sb.utils.distributed.ddp_init_group(run_opts)
    overrides = parse_overrides(overrides)
    plain = read_plain_hparams(hparams_file, overrides)
    hold_output_folder(plain["output_folder"])  # before its data is prepared
    options = {
        "save_folder": plain["save_folder"],
        "unlabelled": as_list(plain["unlabelled"]),
        "labelled_manifests": as_list(plain["labelled_manifest"]),
        "clip_seconds": plain["clip_seconds"],
        "min_seconds": plain["min_seconds"],
        "valid_share": plain["valid_share"],
        "seed": plain["seed"],
        "skip_bad_files": plain["skip_bad_files"],
        "sample_rate": plain["sample_rate"],
        "target_length": plain["target_length"],
    }
    sb.utils.distributed.run_on_main(prepare_pretraining, kwargs=options)
    summary = prepare_pretraining(**options)
    stats = {k: summary[k] for k in ("norm_mean", "norm_std")}
    overrides = {**stats, **overrides}
    hparams = load_experiment(hparams_file, overrides)
    manifests = {
        split: os.path.join(hparams["save_folder"], f"{split}.csv")
        for split in ("train", "valid")
    }
    refuse_other_runs(hparams, manifests)
    datasets = {
        split: pretraining_dataset(path, hparams["sample_rate"])
        for split, path in manifests.items()
    }
    brain = MaskedPatchBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    keep_random_state(brain)  # the masks of a run resumed inside an epoch
    brain.fit(
        hparams["epoch_counter"],
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=hparams["train_dataloader_opts"],
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    if sb.utils.distributed.if_main_process():
        brain.checkpointer.recover_if_possible(min_key="loss")
        folder = save_pretrained_encoder(
            hparams["export_folder"],
            hparams["encoder"],
            front_end={
                "sample_rate": hparams["sample_rate"],
                "n_mels": hparams["n_mels"],
                "normalization": [stats["norm_mean"], stats["norm_std"]],
                "target_length": hparams["target_length"],
            },
        )
        print(
            f"pretrained encoder: {folder} ({summary['clips']['train']} "
            f"clips, {summary['hours']} h); start a recipe from it with "
            f"--ssast_weights {folder}"
        )
    end_distributed()


if __name__ == "__main__":
    run_main(main)
