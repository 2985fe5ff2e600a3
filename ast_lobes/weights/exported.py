"""Reading a model folder exported by this project's recipes, without
running any code from it.

A folder holds ``model.json`` (the data-only description: architecture,
front end, head, labels, outputs, thresholds) and ``model.safetensors``
(the weights), beside the ``hyperparams.yaml`` and ``.ckpt`` files that
SpeechBrain's ``EncoderClassifier.from_hparams`` needs. A folder exported
before 0.3 has only the latter: its YAML is then read as data (never
built by HyperPyYAML, which runs the ``!new:``/``!apply:`` tags it holds),
each tag checked against ``ALLOWED_TAGS``, and its weights read with
``torch.load(weights_only=True)``. SpeechBrain's own ``from_hparams``
builds what the YAML says: use it only on folders you trust.

Authors
 * AST-SpeechBrain contributors 2026
"""

import json
import os
from dataclasses import dataclass

import numpy as np
import torch
from ruamel.yaml import YAML

from ast_lobes.audio.fbank import FbankNormalization, KaldiFbank
from ast_lobes.model.config import (
    AudioSpectrogramTransformerConfig,
    renamed_fields,
)
from ast_lobes.model.encoder import AudioSpectrogramTransformer
from ast_lobes.model.head import (
    AudioClassificationHead,
    DistillationHead,
    FrameLevelHead,
    head_kind,
)
from ast_lobes.model.pipeline import AudioClassificationPipeline
from ast_lobes.weights.files import CheckpointError, load_state_dict_exactly

DESCRIPTION_FILE = "model.json"
WEIGHTS_FILE = "model.safetensors"
DESCRIPTION_FORMAT = 1
HEADS = {
    "clip": AudioClassificationHead,
    "pair": DistillationHead,
    "frames": FrameLevelHead,
}
# The tags an exported hyperparams.yaml may hold: this project's modules
# and SpeechBrain's label encoder and pretrainer. Anything else
# (``!apply:os.system``, ``!name:``, another class) would run code.
ALLOWED_TAGS = {
    "!ref",
    "!new:ast_lobes.KaldiFbank",
    "!new:ast_lobes.FbankNormalization",
    "!new:ast_lobes.AudioSpectrogramTransformer",
    "!new:ast_lobes.AudioClassificationHead",
    "!new:ast_lobes.DistillationHead",
    "!new:ast_lobes.FrameLevelHead",
    "!new:ast_lobes.AudioClassificationPipeline",
    "!new:speechbrain.dataio.encoder.CategoricalEncoder",
    "!new:speechbrain.utils.parameter_transfer.Pretrainer",
}
HEAD_TAGS = {
    f"!new:ast_lobes.{cls.__name__}": kind for kind, cls in HEADS.items()
}


class UnsafeModelFolderError(CheckpointError):
    """A model folder whose YAML would run code when built."""


@dataclass
class ExportedModel:
    """A trained classifier: its pipeline, labels, single- or multi-label
    outputs, the per-class thresholds calibrated at export (multi-label;
    None if there are none) and the description it was built from."""

    pipeline: AudioClassificationPipeline
    label_names: list
    multi_label: bool
    hparams: dict
    thresholds: np.ndarray = None

    @property
    def output_kind(self):
        """What the head outputs: ``clip``, ``pair`` or ``frames``."""
        return head_kind(getattr(self.pipeline, "classifier", None))


def describe_pipeline(pipeline, label_names, multi_label, thresholds=None):
    """The data-only description of a model (``model.json``).

    Example
    -------
    >>> from ast_lobes import AudioSpectrogramTransformer
    >>> pipeline = AudioClassificationPipeline(
    ...     KaldiFbank(target_length=100), FbankNormalization("esc50"),
    ...     AudioSpectrogramTransformer(model_size=None, embed_dim=32,
    ...         depth=1, num_heads=2, target_length=100),
    ...     AudioClassificationHead(32, 2))
    >>> description = describe_pipeline(pipeline, ["cat", "dog"], False)
    >>> description["head"], description["encoder"]["target_length"]
    ({'kind': 'clip', 'input_size': 32, 'n_labels': 2, 'norm_eps': 1e-05}, 100)
    """
    features = pipeline.compute_features
    return {
        "format": DESCRIPTION_FORMAT,
        "sample_rate": features.sample_rate,
        "multi_label": bool(multi_label),
        "front_end": {
            "sample_rate": features.sample_rate,
            "n_mels": features.n_mels,
            "frame_shift": features.frame_shift,
            "target_length": features.target_length,
        },
        "normalization": [
            float(pipeline.normalize.mean), float(pipeline.normalize.std)
        ],
        "per_clip_mean": bool(pipeline.normalize.per_clip_mean),
        "encoder": pipeline.bare_encoder.config.as_dict(),
        "head": head_settings(pipeline.head),
        "labels": list(label_names),
        "thresholds": (
            None if thresholds is None
            else [round(float(t), 6) for t in thresholds]
        ),
    }  # fmt: skip


def head_settings(head):
    """The head's kind and the arguments that rebuild it."""
    kind = head_kind(head)
    if kind == "pair":
        return {
            "kind": kind,
            "input_size": head.cls_head.linear.in_features,
            "n_labels": head.cls_head.linear.out_features,
            "multi_label": bool(head.multi_label),
            "use": head.use,
            "norm_eps": head.cls_head.norm.eps,
        }
    settings = {
        "kind": kind,
        "input_size": head.linear.in_features,
        "n_labels": head.linear.out_features,
    }
    if kind == "frames":
        settings["pooling"] = head.pooling
    settings["norm_eps"] = head.norm.eps
    return settings


def pipeline_from_description(description, source):
    """The (untrained) pipeline a description builds."""
    try:
        encoder_fields = renamed_fields(dict(description["encoder"]), source)
        head = dict(description["head"])
        kind = head.pop("kind")
        if kind not in HEADS:
            raise ValueError(f"head kind {kind!r}, not one of {list(HEADS)}")
        mean, std = description["normalization"]
        return AudioClassificationPipeline(
            KaldiFbank(**description["front_end"]),
            FbankNormalization(
                (float(mean), float(std)),
                bool(description.get("per_clip_mean", False)),
            ),
            AudioSpectrogramTransformer(
                config=AudioSpectrogramTransformerConfig(**encoder_fields)
            ),
            HEADS[kind](**head),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(
            f"{source}: not a model description this version reads "
            f"({type(error).__name__}: {error})"
        ) from error


def tag_of(node):
    """The tag of a parsed YAML node (``!new:...``), or None."""
    return getattr(getattr(node, "tag", None), "value", None)


def check_tags(node, source, where=""):
    """Refuses any tag outside ``ALLOWED_TAGS`` in a parsed YAML tree,
    naming its key."""
    tag = tag_of(node)
    if tag is not None and tag.startswith("!") and tag not in ALLOWED_TAGS:
        raise UnsafeModelFolderError(
            f"{source}: key {where or '(top)'!r} holds {tag}, which a model "
            "folder may not hold (only this project's and SpeechBrain's own "
            "classes): it would run code when built. Refused; rebuild the "
            "folder with a recipe's export, or load it with SpeechBrain's "
            "from_hparams only if you trust it"
        )
    if isinstance(node, dict):
        for key, value in node.items():
            check_tags(value, source, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            check_tags(value, source, f"{where}[{index}]")


def plain(node):
    """A parsed YAML node as plain Python data (tags dropped)."""
    if isinstance(node, dict):
        return {str(key): plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [plain(value) for value in node]
    return getattr(node, "value", node)


def description_from_yaml(folder):
    """The description of a folder exported before 0.3, read from its
    ``hyperparams.yaml`` as data (no object is built)."""
    path = os.path.join(folder, "hyperparams.yaml")
    with open(path, encoding="utf-8") as handle:
        tree = YAML(typ="rt").load(handle)
    if not isinstance(tree, dict):
        raise CheckpointError(f"{path}: not a mapping of settings")
    check_tags(tree, path)
    head_tag = tag_of(tree.get("classifier"))
    if head_tag not in HEAD_TAGS:
        raise CheckpointError(f"{path}: classifier is {head_tag}, not a head")
    try:
        values = {key: plain(tree[key]) for key in (
            "compute_features", "mean_var_norm", "embedding_model",
            "classifier",
        )}  # fmt: skip
    except KeyError as error:
        raise CheckpointError(f"{path}: no {error.args[0]}") from error
    values["embedding_model"].pop("config", None)
    return {
        "format": DESCRIPTION_FORMAT,
        "sample_rate": tree.get("sample_rate", 16000),
        "multi_label": bool(tree.get("multi_label", False)),
        "front_end": values["compute_features"],
        "normalization": values["mean_var_norm"]["normalization"],
        "per_clip_mean": bool(
            values["mean_var_norm"].get("per_clip_mean", False)
        ),
        "encoder": encoder_config_fields(values["embedding_model"], path),
        "head": {"kind": HEAD_TAGS[head_tag], **values["classifier"]},
        "labels": read_label_file(folder),
        "thresholds": plain(tree.get("thresholds")),
    }


def encoder_config_fields(arguments, source):
    """Config fields from the encoder's YAML arguments (``model_size``
    expanded to its dimensions, as the constructor does)."""
    arguments = renamed_fields(arguments, source)
    return AudioSpectrogramTransformerConfig.from_size(**arguments).as_dict()


def read_label_file(folder):
    """The label names of ``label_encoder.ckpt`` (SpeechBrain's text
    format), in index order."""
    from speechbrain.dataio.encoder import CategoricalEncoder

    labels = CategoricalEncoder()
    path = os.path.join(folder, "label_encoder.ckpt")
    if not os.path.isfile(path):
        raise CheckpointError(f"{folder}: no label_encoder.ckpt")
    labels.load(path)
    return [labels.ind2lab[i] for i in range(len(labels))]


def model_description(folder):
    """The data-only description of an exported model folder: its
    ``model.json``, or (folders exported before 0.3) its YAML read as
    data. Nothing from the folder is run."""
    path = os.path.join(folder, DESCRIPTION_FILE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            try:
                description = json.load(handle)
            except json.JSONDecodeError as error:
                raise CheckpointError(f"{path}: not JSON ({error})") from error
        if description.get("format") != DESCRIPTION_FORMAT:
            raise CheckpointError(
                f"{path}: format {description.get('format')!r}; this "
                f"version reads format {DESCRIPTION_FORMAT}"
            )
        return description
    if not os.path.isfile(os.path.join(folder, "hyperparams.yaml")):
        raise CheckpointError(
            f"{folder}: no {DESCRIPTION_FILE} or hyperparams.yaml (not a "
            "model folder)"
        )
    return description_from_yaml(folder)


def load_weights(pipeline, folder):
    """Fills the encoder and head from ``model.safetensors``, or from the
    ``.ckpt`` files (``torch.load(weights_only=True)``)."""
    path = os.path.join(folder, WEIGHTS_FILE)
    if os.path.isfile(path):
        from safetensors.torch import load_file

        state = load_file(path, device="cpu")
        for prefix, module in (("encoder.", pipeline.bare_encoder),
                               ("classifier.", pipeline.head)):  # fmt: skip
            part = {
                key[len(prefix) :]: value
                for key, value in state.items()
                if key.startswith(prefix)
            }
            load_state_dict_exactly(module, part, path)
        return
    for name, module in (("embedding_model", pipeline.bare_encoder),
                         ("classifier", pipeline.head)):  # fmt: skip
        weights = os.path.join(folder, f"{name}.ckpt")
        if not os.path.isfile(weights):
            raise CheckpointError(f"{folder}: no {WEIGHTS_FILE} or {name}.ckpt")
        state = torch.load(weights, map_location="cpu", weights_only=True)
        load_state_dict_exactly(module, state, weights)


def load_exported_model(folder):
    """Loads a folder written by ``ast_lobes.export_classifier`` (or an
    earlier version's) without running code from it.

    Arguments
    ---------
    folder : str
        The model folder.

    Returns
    -------
    ExportedModel
        Its pipeline in eval mode; ``hparams`` is its description.
    """
    folder = os.fspath(folder)
    description = model_description(folder)
    pipeline = pipeline_from_description(description, folder)
    load_weights(pipeline, folder)
    labels = list(description["labels"])
    n_outputs = head_settings(pipeline.head)["n_labels"]
    if len(labels) != n_outputs:
        raise CheckpointError(
            f"{folder}: {len(labels)} labels for {n_outputs} outputs"
        )
    multi_label = bool(description.get("multi_label", False))
    thresholds = description.get("thresholds")
    return ExportedModel(
        pipeline=pipeline.eval(),
        label_names=labels,
        multi_label=multi_label,
        hparams=description,
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
