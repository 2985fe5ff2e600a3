"""Reading a model folder exported by this project's recipes, without
running any code from it.

A folder holds ``model.json`` (the data-only description: architecture,
front end, head, labels, outputs, thresholds) and ``model.safetensors``
(the weights), beside the ``hyperparams.yaml`` and ``.ckpt`` files that
SpeechBrain's ``EncoderClassifier.from_hparams`` needs. A folder with
only the latter is read by ``ast_lobes.compat.exports`` (its YAML as
data). SpeechBrain's own ``from_hparams`` builds what the YAML says: use
it only on folders you trust.

Authors
 * AST-SpeechBrain contributors 2026
"""

import os
from dataclasses import dataclass

import numpy as np

from ast_lobes.audio.fbank import FbankNormalization, KaldiFbank
from ast_lobes.compat.aliases import renamed_fields
from ast_lobes.compat.exports import (
    description_from_yaml,
    load_ckpt_weights,
    read_ckpt_state,
)
from ast_lobes.model.config import (
    BLOCK_POOLINGS,
    AudioSpectrogramTransformerConfig,
)
from ast_lobes.model.encoder import AudioSpectrogramTransformer
from ast_lobes.model.head import (
    AudioClassificationHead,
    BlockWeightedHead,
    DistillationHead,
    FrameLevelHead,
    head_kind,
)
from ast_lobes.model.pipeline import AudioClassificationPipeline
from ast_lobes.weights.files import (  # noqa: F401 (UnsafeModelFolderError)
    CheckpointError,
    UnsafeModelFolderError,
    load_state_dict_exactly,
    read_safetensors_header,
)
from ast_lobes.weights.folder_limits import (
    check_description,
    check_sizes_fit_weights,
    read_description_file,
)

DESCRIPTION_FILE = "model.json"
WEIGHTS_FILE = "model.safetensors"
DESCRIPTION_FORMAT = 1
HEADS = {
    "clip": AudioClassificationHead,
    "pair": DistillationHead,
    "frames": FrameLevelHead,
    "blocks": BlockWeightedHead,
}


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
    if isinstance(head, BlockWeightedHead):
        kind = "blocks"
    settings = {
        "kind": kind,
        "input_size": head.linear.in_features,
        "n_labels": head.linear.out_features,
    }
    if kind == "frames":
        settings["pooling"] = head.pooling
    if kind == "blocks":
        settings["n_blocks"] = head.n_blocks
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
        config = AudioSpectrogramTransformerConfig(**encoder_fields)
        blocks = config.pooling in BLOCK_POOLINGS
        if (kind == "blocks") != blocks or (
            blocks and head.get("n_blocks") != config.depth
        ):
            raise ValueError(
                f"pooling {config.pooling!r} of {config.depth} blocks and "
                f"a {kind} head of {head.get('n_blocks')} blocks: a blocks "
                "head reads a blocks_* pooling of each block"
            )
        return AudioClassificationPipeline(
            KaldiFbank(**description["front_end"]),
            FbankNormalization(
                (float(mean), float(std)),
                bool(description.get("per_clip_mean", False)),
            ),
            AudioSpectrogramTransformer(config),
            HEADS[kind](**head),
        )
    except (
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        RuntimeError,
        AssertionError,
        ZeroDivisionError,
        OverflowError,
    ) as error:
        raise CheckpointError(
            f"{source}: not a model description this version reads "
            f"({type(error).__name__}: {error})"
        ) from error


def model_description(folder):
    """The data-only description of an exported model folder: its
    ``model.json``, or (a folder without one) its YAML read as data
    (``ast_lobes.compat.exports``), each field checked for its kind and
    size (``ast_lobes.weights.folder_limits``). Nothing from the folder is
    run."""
    path = os.path.join(folder, DESCRIPTION_FILE)
    if os.path.isfile(path):
        description = read_description_file(path)
        if description.get("format") != DESCRIPTION_FORMAT:
            raise CheckpointError(
                f"{path}: format {description.get('format')!r}; this "
                f"version reads format {DESCRIPTION_FORMAT}"
            )
        check_description(description, path)
        return description
    path = os.path.join(folder, "hyperparams.yaml")
    if not os.path.isfile(path):
        raise CheckpointError(
            f"{folder}: no {DESCRIPTION_FILE} or hyperparams.yaml (not a "
            "model folder)"
        )
    description = {
        "format": DESCRIPTION_FORMAT,
        **description_from_yaml(folder),
    }
    check_description(description, path)
    return description


def description_path(folder):
    """The file the folder's description was read from."""
    path = os.path.join(folder, DESCRIPTION_FILE)
    if os.path.isfile(path):
        return path
    return os.path.join(folder, "hyperparams.yaml")


CKPT_FILES = (("embedding_model.ckpt", "encoder."),
              ("classifier.ckpt", "classifier."))  # fmt: skip


def held_tensors(folder):
    """``(file, {name: (dtype, shape)})`` of the folder's weights, read
    without their data: ``model.safetensors``' header, or the ``.ckpt``
    files loaded onto the meta device; None when a ``.ckpt`` is missing
    (``load_weights`` names it)."""
    path = os.path.join(folder, WEIGHTS_FILE)
    if os.path.isfile(path):
        return path, read_safetensors_header(path)
    tensors = {}
    for name, prefix in CKPT_FILES:
        weights = os.path.join(folder, name)
        if not os.path.isfile(weights):
            return None
        state = read_ckpt_state(weights, device="meta")
        tensors.update({f"{prefix}{key}": (str(value.dtype), tuple(value.shape))
                        for key, value in state.items()})  # fmt: skip
    return os.path.join(folder, CKPT_FILES[0][0]), tensors


def check_weights_fit(description, folder):
    """Refuses a description whose model the weights do not fill, before
    anything is allocated: its depth against the weights' blocks, then
    every tensor's shape against a model built on the meta device (no
    memory), so a description's sizes cannot decide how much memory
    loading takes."""
    import torch

    held = held_tensors(folder)
    if held is None:
        return
    weights_path, tensors = held
    source = description_path(folder)
    check_sizes_fit_weights(description, source, weights_path, tensors)
    with torch.device("meta"):
        skeleton = pipeline_from_description(description, source)
    for prefix, module in (("encoder.", skeleton.bare_encoder),
                           ("classifier.", skeleton.head)):  # fmt: skip
        for key, value in module.state_dict().items():
            name, shape = prefix + key, tuple(value.shape)
            found = tensors.get(name, (None, None))[1]
            if found is None or tuple(found) != shape:
                raise CheckpointError(
                    f"{source}: its sizes make {name} of shape {shape}; "
                    f"{weights_path} holds "
                    f"{tuple(found) if found is not None else 'no such tensor'}"
                )


def load_weights(pipeline, folder):
    """Fills the encoder and head from ``model.safetensors``, or from the
    ``.ckpt`` files (``torch.load(weights_only=True)``)."""
    path = os.path.join(folder, WEIGHTS_FILE)
    if os.path.isfile(path):
        from safetensors.torch import load_file

        try:
            state = load_file(path, device="cpu")
        except Exception as error:  # safetensors' own errors
            raise CheckpointError(
                f"{path}: cannot be read as safetensors "
                f"({type(error).__name__}: {str(error).splitlines()[0]})"
            ) from error
        for prefix, module in (("encoder.", pipeline.bare_encoder),
                               ("classifier.", pipeline.head)):  # fmt: skip
            part = {
                key[len(prefix) :]: value
                for key, value in state.items()
                if key.startswith(prefix)
            }
            load_state_dict_exactly(module, part, path)
        return
    load_ckpt_weights(pipeline.bare_encoder, pipeline.head, folder,
                      missing=WEIGHTS_FILE)  # fmt: skip


def load_exported_model(folder):
    """Loads a folder written by ``ast_lobes.export_classifier`` without
    running code from it (``ast_lobes.load_model_source``, the one way
    in, reads such a folder with it).

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
    check_weights_fit(description, folder)
    pipeline = pipeline_from_description(description, description_path(folder))
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
