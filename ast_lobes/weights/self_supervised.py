"""Encoders pretrained by this project's masked patch modelling (SSAST,
``recipes/SSAST``): saved as ``encoder.ckpt`` (the encoder's state dict)
and ``encoder.json`` (its configuration and front end), and read back as
starting weights for an encoder of another patch grid.

Authors
 * AST-SpeechBrain contributors 2026
"""

import json
import os

import torch

from ast_lobes.model.config import AudioSpectrogramTransformerConfig
from ast_lobes.weights.conversion import resize_ast_positions
from ast_lobes.weights.files import CheckpointError, read_state_dict_file
from ast_lobes.weights.folder_limits import read_description_file

ENCODER_FILE = "encoder.ckpt"
CONFIG_FILE = "encoder.json"
# what a fine-tuned encoder must share with the pretrained one
SHARED_FIELDS = ("embed_dim", "depth", "num_heads", "mlp_ratio",
                 "patch_size", "input_fdim")  # fmt: skip


def save_pretrained_encoder(folder, encoder, front_end=None):
    """Writes ``encoder.ckpt`` and ``encoder.json`` (the configuration and
    ``front_end``: sample rate, mel bins, normalisation) to ``folder``.

    Example
    -------
    >>> import tempfile
    >>> from ast_lobes import AudioSpectrogramTransformer
    >>> encoder = AudioSpectrogramTransformer(model_size=None, embed_dim=32,
    ...     depth=1, num_heads=2, target_length=96, fstride=16, tstride=16)
    >>> folder = save_pretrained_encoder(tempfile.mkdtemp(), encoder)
    >>> sorted(os.listdir(folder))
    ['encoder.ckpt', 'encoder.json']
    """
    os.makedirs(folder, exist_ok=True)
    torch.save(encoder.state_dict(), os.path.join(folder, ENCODER_FILE))
    info = {"config": encoder.config.as_dict(), "front_end": front_end or {}}
    with open(os.path.join(folder, CONFIG_FILE), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
    return folder


def read_pretrained_encoder(source):
    """``(state, config, front_end)`` of a folder written by
    ``save_pretrained_encoder`` (or its ``encoder.ckpt``)."""
    folder = source if os.path.isdir(source) else os.path.dirname(source)
    paths = [os.path.join(folder, name) for name in (ENCODER_FILE,
                                                     CONFIG_FILE)]  # fmt: skip
    missing = [path for path in paths if not os.path.isfile(path)]
    if missing:
        raise CheckpointError(
            f"{source}: not a pretrained encoder folder (missing "
            f"{', '.join(os.path.basename(p) for p in missing)}; "
            "recipes/SSAST/pretrain.py writes one)"
        )
    info = read_description_file(paths[1])
    fields = info.get("config")
    if not isinstance(fields, dict):
        raise CheckpointError(f"{paths[1]}: config: not an object of settings")
    try:
        config = AudioSpectrogramTransformerConfig(**fields)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{paths[1]}: config: {error}") from error
    state = read_state_dict_file(paths[0])
    return state, config, info.get("front_end", {})


def pretrained_encoder_state(source, config, position_mode="bilinear"):
    """The pretrained weights of ``source`` for an encoder of ``config``:
    same size and patch shape, any strides and frame count (the position
    embedding is resized to the new patch grid, as for published
    checkpoints).

    Raises
    ------
    CheckpointError
        When the sizes differ, naming the file and the fields.
    """
    state, pretrained, _ = read_pretrained_encoder(source)
    differ = [
        f"{name} {getattr(pretrained, name)} (here {getattr(config, name)})"
        for name in SHARED_FIELDS
        if getattr(pretrained, name) != getattr(config, name)
    ]
    if differ:
        raise CheckpointError(
            f"{source}: the pretrained encoder differs in {', '.join(differ)}"
            "; build the fine-tuned encoder with the same size and patches"
        )
    return resize_ast_positions(state, pretrained.grid, config.grid,
                                position_mode)  # fmt: skip
