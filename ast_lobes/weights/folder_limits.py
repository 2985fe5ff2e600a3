"""Checks that bound what a model folder from a stranger can make loading
do: its description's fields are of the right kind and size, and the
sizes it gives fit the weights file's header, read before any model is
built or any tensor read (safetensors' header is an 8-byte length and a
JSON table of names, dtypes, shapes and offsets).

Every refusal is a ``CheckpointError`` of one line naming the file and
key.

Authors
 * AST-SpeechBrain contributors 2026
"""

import json
import math
import os
import re

from ast_lobes.weights.files import CheckpointError

# The largest description (model.json) read.
MAX_DESCRIPTION_BYTES = 1 << 20
# The largest value of any size in a description (frames, dimensions,
# mel bins, labels, sample rate).
MAX_SIZE = 1 << 20
# Sizes that must be positive integers; those that may also be zero.
POSITIVE_SIZES = {
    "encoder": ("embed_dim", "depth", "num_heads", "input_fdim",
                "target_length", "fstride", "tstride", "stem_layers",
                "image_stem_stride"),
    "head": ("input_size", "n_labels", "n_blocks"),
    "front_end": ("sample_rate", "n_mels", "target_length"),
}  # fmt: skip
COUNTS = {
    "encoder": ("stem_channels", "image_stem_channels", "image_stem_bands",
                "patchout_time", "patchout_freq", "patchout_patches"),
}  # fmt: skip


def refuse(path, key, what):
    """Raises the one-line error naming ``path`` and ``key``."""
    raise CheckpointError(f"{path}: {key}: {what}")


def is_size(value, least=1):
    """True for an integer (not a bool) from ``least`` to ``MAX_SIZE``."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and least <= value <= MAX_SIZE
    )


def is_number(value):
    """True for a finite int or float (not a bool)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def check_description(description, path):
    """Refuses a description whose parts are not of the kind and size a
    model of this project has, naming ``path`` and the key.

    Example
    -------
    >>> description = {"encoder": {"depth": 0}, "head": {}, "front_end": {}}
    >>> check_description(description, "model.json")
    Traceback (most recent call last):
    ...
    ast_lobes.weights.files.CheckpointError: model.json: encoder.depth: ...
    """
    if not isinstance(description, dict):
        refuse(path, "(top)", f"a JSON {type(description).__name__}, "
               "not an object of settings")  # fmt: skip
    for part in ("encoder", "head", "front_end"):
        if not isinstance(description.get(part), dict):
            refuse(path, part, "not an object of settings")
    for part, keys in POSITIVE_SIZES.items():
        for key in keys:
            value = description[part].get(key)
            if key in description[part] and not is_size(value):
                refuse(path, f"{part}.{key}", f"{value!r} is not an "
                       f"integer from 1 to {MAX_SIZE}")  # fmt: skip
    for part, keys in COUNTS.items():
        for key in keys:
            value = description[part].get(key)
            if key in description[part] and not is_size(value, least=0):
                refuse(path, f"{part}.{key}", f"{value!r} is not an "
                       f"integer from 0 to {MAX_SIZE}")  # fmt: skip
    patch = description["encoder"].get("patch_size", 16)
    patch = [patch, patch] if isinstance(patch, int) else patch
    if (
        not isinstance(patch, list)
        or len(patch) != 2
        or not all(is_size(side) for side in patch)
    ):
        refuse(path, "encoder.patch_size", f"{patch!r} is not two sizes")
    for part, key in (("encoder", "mlp_ratio"), ("front_end", "frame_shift")):
        value = description[part].get(key, 1)
        if not is_number(value) or not 0 < value <= MAX_SIZE:
            refuse(path, f"{part}.{key}", f"{value!r} is not a positive "
                   "finite number")  # fmt: skip
    check_labels(description, path)


def check_labels(description, path):
    """The labels, normalization and thresholds of a description."""
    labels = description.get("labels")
    if (
        not isinstance(labels, list)
        or not labels
        or not all(isinstance(label, str) for label in labels)
    ):
        refuse(path, "labels", "not a non-empty list of label names")
    normalization = description.get("normalization")
    if (
        not isinstance(normalization, list)
        or len(normalization) != 2
        or (not all(is_number(value) for value in normalization))
    ):
        refuse(path, "normalization", f"{normalization!r} is not a "
               "[mean, std] pair of finite numbers")  # fmt: skip
    thresholds = description.get("thresholds")
    if thresholds is not None and (
        not isinstance(thresholds, list)
        or len(thresholds) != len(labels)
        or not all(is_number(value) for value in thresholds)
    ):
        refuse(path, "thresholds", f"not {len(labels)} finite numbers, one "
               "per label")  # fmt: skip


def read_description_file(path):
    """The JSON object of a model folder's description file (``model.json``;
    also a Hugging Face folder's ``config.json`` and
    ``preprocessor_config.json``, a pretrained encoder's
    ``encoder.json``), read within ``MAX_DESCRIPTION_BYTES``; anything
    else is one line naming the file."""
    if os.path.getsize(path) > MAX_DESCRIPTION_BYTES:
        refuse(
            path,
            "(file)",
            f"{os.path.getsize(path)} bytes, more than the "
            f"{MAX_DESCRIPTION_BYTES} a model folder's JSON file may have",
        )
    try:
        with open(path, encoding="utf-8") as handle:
            description = json.load(handle)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        message = str(error).splitlines()[0] if str(error) else ""
        refuse(path, "(file)", f"not JSON ({type(error).__name__}: "
               f"{message})")  # fmt: skip
    if not isinstance(description, dict):
        check_description(description, path)
    return description


# The sizes of a Hugging Face AST config.json and preprocessor_config.json.
HF_SIZES = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "patch_size",
    "frequency_stride",
    "time_stride",
    "num_mel_bins",
    "max_length",
    "sampling_rate",
)
HF_REQUIRED = ("hidden_size", "num_hidden_layers", "num_attention_heads")


def check_hf_config(config, path, required=HF_REQUIRED):
    """Refuses a Hugging Face ``config.json`` (or, with ``required=()``,
    ``preprocessor_config.json``) whose sizes, epsilon, statistics or
    labels are not of the kind an AST has, naming ``path`` and the key.

    Example
    -------
    >>> check_hf_config({"hidden_size": 64, "num_hidden_layers": "2",
    ...                  "num_attention_heads": 2}, "config.json")
    Traceback (most recent call last):
    ...
    ast_lobes.weights.files.CheckpointError: config.json: num_hidden_layers...
    """
    for key in (*required, *(["std"] if "mean" in config else [])):
        if key not in config:
            refuse(path, key, "missing")
    for key in HF_SIZES:
        if key in config and not is_size(config[key]):
            refuse(path, key, f"{config[key]!r} is not an integer from 1 "
                   f"to {MAX_SIZE}")  # fmt: skip
    for key, least in (("layer_norm_eps", 0), ("mean", None), ("std", 0)):
        value = config.get(key, 1)
        if not is_number(value) or (least is not None and value <= least):
            refuse(path, key, f"{value!r} is not a finite number"
                   f"{'' if least is None else ' > 0'}")  # fmt: skip
    labels = config.get("id2label") or {}
    if not isinstance(labels, dict) or not all(
        re.fullmatch(r"\d{1,7}", key) and isinstance(name, str)
        for key, name in labels.items()
    ):
        refuse(path, "id2label", "not an object of {index: label name}")


def check_sizes_fit_weights(description, path, weights_path, tensors):
    """Refuses a description whose encoder depth or the parameters its
    sizes imply are more than the weights file holds (before the model is
    built, so its sizes cannot decide how much memory loading takes)."""
    encoder = description["encoder"]
    blocks = {
        int(match.group(1))
        for name in tensors
        if (match := re.match(r"encoder\.blocks\.(\d+)\.", name))
    }
    depth = encoder.get("depth", 12)
    if blocks != set(range(depth)):
        refuse(path, "encoder.depth", f"{depth}, but {weights_path} holds "
               f"{len(blocks)} blocks")  # fmt: skip
    dim = encoder.get("embed_dim", 768)
    implied = implied_weights(description)
    held = sum(math.prod(shape) for _, shape in tensors.values())
    if implied > held:
        refuse(path, "encoder", f"its sizes (embed_dim {dim}, depth, "
               "mlp_ratio, target_length, stem channels, the head's) need "
               f"at least {implied} weights; {weights_path} holds "
               f"{held}")  # fmt: skip


def implied_weights(description):
    """A lower bound of the weights the description's model has: per
    block its attention (4 * dim**2) and MLP (2 * mlp_ratio * dim**2), the
    time patches' position embeddings, a weight per stem channel and the
    head's matrix.

    Example
    -------
    >>> implied_weights({
    ...     "encoder": {"embed_dim": 32, "depth": 1, "target_length": 100,
    ...                 "tstride": 10, "patch_size": [16, 16]},
    ...     "head": {"input_size": 32, "n_labels": 3}})
    12672
    """
    encoder = description["encoder"]
    head = description["head"]
    dim = encoder.get("embed_dim", 768)
    blocks = encoder.get("depth", 12) * (4 + 2 * encoder.get("mlp_ratio", 4))
    patch = encoder.get("patch_size", 16)
    patch_time = patch if isinstance(patch, int) else patch[-1]
    time_patches = max(1, (encoder.get("target_length", 1024) - patch_time)
                       // encoder.get("tstride", 10) + 1)  # fmt: skip
    stems = encoder.get("stem_channels", 0) + encoder.get(
        "image_stem_channels", 0
    )
    return int(
        blocks * dim * dim
        + time_patches * dim
        + stems
        + head.get("n_labels", 1) * head.get("input_size", 1)
    )
