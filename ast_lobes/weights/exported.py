"""Reading a model folder exported by this project's recipes.

Authors
 * AST-SpeechBrain contributors 2026
"""

import os
from dataclasses import dataclass

import numpy as np
import torch
from speechbrain.dataio.encoder import CategoricalEncoder

from ast_lobes.model.head import head_kind
from ast_lobes.model.pipeline import AudioClassificationPipeline
from ast_lobes.weights.files import CheckpointError, load_state_dict_exactly


@dataclass
class ExportedModel:
    """A trained classifier: its pipeline, labels, single- or multi-label
    outputs, the per-class thresholds calibrated at export (multi-label;
    None if there are none) and the settings it was loaded from."""

    pipeline: AudioClassificationPipeline
    label_names: list
    multi_label: bool
    hparams: dict
    thresholds: np.ndarray = None

    @property
    def output_kind(self):
        """What the head outputs: ``clip``, ``pair`` or ``frames``."""
        return head_kind(getattr(self.pipeline, "classifier", None))


def pipeline_of(hparams):
    """The ``pipeline`` an exported YAML defines, or one built over its
    modules (folders exported before the pipeline existed)."""
    if "pipeline" in hparams:
        return hparams["pipeline"]
    return AudioClassificationPipeline(
        hparams["compute_features"],
        hparams["mean_var_norm"],
        hparams["embedding_model"],
        hparams["classifier"],
    )


def load_exported_model(folder):
    """Loads a folder written by ``ast_lobes.export_classifier`` without
    SpeechBrain's inference classes.

    Arguments
    ---------
    folder : str
        The model folder.

    Returns
    -------
    ExportedModel
        Its pipeline in eval mode.
    """
    from hyperpyyaml import load_hyperpyyaml

    path = os.path.join(folder, "hyperparams.yaml")
    if not os.path.isfile(path):
        raise CheckpointError(f"{folder}: no hyperparams.yaml (not a model)")
    with open(path, encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(handle)
    for name in ("embedding_model", "classifier"):
        weights = os.path.join(folder, f"{name}.ckpt")
        state = torch.load(weights, map_location="cpu", weights_only=True)
        load_state_dict_exactly(hparams[name], state, weights)
    labels = CategoricalEncoder()
    labels.load(os.path.join(folder, "label_encoder.ckpt"))
    multi_label = bool(hparams.get("multi_label", False))
    thresholds = hparams.get("thresholds")
    return ExportedModel(
        pipeline=pipeline_of(hparams).eval(),
        label_names=[labels.ind2lab[i] for i in range(len(labels))],
        multi_label=multi_label,
        hparams=hparams,
        thresholds=(
            np.asarray(thresholds, dtype=np.float32)
            if thresholds is not None and multi_label
            else None
        ),
    )


def start_from_exported(encoder, classifier, folder, label_names):
    """Fills ``encoder`` with the encoder of an exported model folder, and
    ``classifier`` with its head when its labels are ``label_names`` in the
    same order (training goes on); else the head stays new.

    Arguments
    ---------
    encoder : ast_lobes.AudioSpectrogramTransformer
        Built with the exported encoder's architecture and frame count.
    classifier : ast_lobes.AudioClassificationHead
        The new head.
    folder : str
        A model folder exported by a recipe of this project.
    label_names : list of str
        The labels of the new training data.

    Returns
    -------
    bool
        Whether the head was taken too.
    """
    exported = load_exported_model(folder)
    load_state_dict_exactly(
        encoder,
        exported.pipeline.encoder.state_dict(),
        f"{folder} (its encoder; build the same architecture and frames)",
    )
    same_labels = exported.label_names == list(label_names)
    if same_labels:
        load_state_dict_exactly(
            classifier, exported.pipeline.classifier.state_dict(), folder
        )
    return same_labels
