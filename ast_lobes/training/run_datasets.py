"""A training run's data from its manifests and hparams: the label
encoder, a dataset per split, and the loader of the training shards.

Authors
 * AST-SpeechBrain contributors 2026
"""

import logging
import os

import speechbrain as sb

from ast_lobes.training.data.datasets import (
    build_label_encoder,
    classification_dataset,
)
from ast_lobes.training.data.shards import (
    ShardedClips,
    ShardLoader,
    names_shard_folder,
    write_shards,
)
from ast_lobes.training.hparams_check import optional
from ast_lobes.training.options import RecipeOptionError

logger = logging.getLogger(__name__)


def build_datasets(hparams, manifests):
    """The label encoder and a dataset per manifest.

    The label encoder is ``save_folder/label_encoder.txt`` if it exists
    (a prepare script may write it in a fixed order), else the sorted labels
    of the training manifest; its size must equal ``n_classes``. Without a
    training manifest (training from shards) the file must exist.

    Returns
    -------
    tuple
        ``(label_encoder, {split: dataset})``.
    """
    encoder_file = os.path.join(hparams["save_folder"], "label_encoder.txt")
    if "train" not in manifests and not os.path.isfile(encoder_file):
        raise FileNotFoundError(
            f"{encoder_file}: missing; without a training manifest the "
            "prepare step must write the labels"
        )
    train_csv = manifests.get("train")
    sb.utils.distributed.run_on_main(
        build_label_encoder, args=[encoder_file, train_csv]
    )
    label_encoder = build_label_encoder(encoder_file, train_csv)
    n_classes = hparams.get("n_classes")
    if n_classes is not None and n_classes != len(label_encoder):
        raise RecipeOptionError(
            f"n_classes is {n_classes} but the data has "
            f"{len(label_encoder)} labels ({encoder_file}); set "
            f"--n_classes {len(label_encoder)} or fix the data"
        )
    datasets = {
        split: classification_dataset(
            path,
            label_encoder,
            hparams["sample_rate"],
            resample=optional(hparams, "resample_on_load"),
        )
        for split, path in manifests.items()
    }
    return label_encoder, datasets


def shard_train_loader(hparams, label_encoder, manifest):
    """The ``ShardLoader`` of ``train_shards`` (``batch_size`` and
    ``num_workers`` of ``train_dataloader_opts``, ``balanced_sampling``,
    ``shuffle_buffer``, ``seed``).

    ``train_shards`` names shards (a ``.tar`` brace pattern or list), or a
    folder, into which the main process first writes the training
    manifest's clips (``clips_per_shard`` a shard), or finishes writing
    them, or checks that they are this manifest's."""
    shards = hparams["train_shards"]
    for key in ("distillation", "teacher_logits_file"):
        if optional(hparams, key) is not None:
            raise RecipeOptionError(
                f"train_shards: {key} is not supported from shards (the "
                "teacher's outputs are stored for the manifest's clips); set "
                f"train_shards: null or leave {key} out"
            )
    if names_shard_folder(shards):
        if manifest is None:
            raise RecipeOptionError(
                f"train_shards: {shards} is a folder to write shards into, "
                "from the training manifest, and there is none"
            )
        sb.utils.distributed.run_on_main(
            write_shards,
            args=[manifest, shards, optional(hparams, "clips_per_shard")],
            kwargs={"sample_rate": hparams["sample_rate"], "log": logger.info},
        )
    options = hparams["train_dataloader_opts"]
    clips = ShardedClips(
        shards, label_encoder, options["batch_size"],
        seed=hparams.get("seed", 0),
        balanced=bool(optional(hparams, "balanced_sampling")),
        shuffle_buffer=optional(hparams, "shuffle_buffer") or 0,
    )  # fmt: skip
    return ShardLoader(clips, num_workers=options.get("num_workers", 0))


def after_training_share(hparams, datasets):
    """Clips scored after training (the test; the training clips once per
    stored teacher draw) per validation clip: what a time budget keeps."""
    valid_clips = max(1, len(datasets["valid"]))
    clips = len(datasets.get("test", ()))
    if optional(hparams, "teacher_logits_file") and "train" in datasets:
        draws = max(1, optional(hparams, "teacher_draws") or 0)
        clips += draws * len(datasets["train"])
    return clips / valid_clips
