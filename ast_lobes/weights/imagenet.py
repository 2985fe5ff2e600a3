"""Turning ImageNet ViT/DeiT weights (timm) into an AST encoder.

As in the paper: the RGB patch convolution is summed over its three input
channels (the same as feeding three copies of the spectrogram), and the
position embedding of the image grid is cut around its centre or bilinearly
interpolated to the audio patch grid.

Authors
 * AST-SpeechBrain contributors 2026
"""

import math
import os

import torch

from ast_lobes.model.config import MODEL_SIZES
from ast_lobes.model.position import resize_patch_positions
from ast_lobes.weights.conversion import POSITION_MODES, random_patch_positions
from ast_lobes.weights.files import CheckpointError, read_state_dict_file

IMAGENET_HEAD_KEYS = ("head.", "head_dist.", "fc_norm.")


def imagenet_source(config, source=True):
    """The weight file or timm name to read: ``source``, or for True the
    DeiT of ``config.model_size``."""
    if source is not True:
        return source
    if config.model_size is None:
        raise ValueError(
            "A custom-size encoder needs an explicit ImageNet source "
            "(a timm model name or a weight file)"
        )
    return MODEL_SIZES[config.model_size].timm_name


def read_imagenet_state_dict(source):
    """Reads ImageNet weights from a local file or a timm model name.

    Arguments
    ---------
    source : str
        A ``.pth``/``.safetensors`` file, or a timm model name such as
        ``deit_base_distilled_patch16_384`` (downloaded by timm).

    Returns
    -------
    dict
        timm ViT state dict.
    """
    if os.path.exists(os.fspath(source)):
        return read_state_dict_file(source)
    import timm

    if not timm.is_model(source):
        raise CheckpointError(
            f"{source}: neither a weight file nor a timm model name"
        )
    try:
        model = timm.create_model(source, pretrained=True)
    except Exception as error:
        raise CheckpointError(
            f"{source}: timm could not fetch the ImageNet weights ({error}); "
            "download them where a network is available and pass the file"
        ) from error
    return model.state_dict()


def imagenet_to_ast_state_dict(state, config, position_mode="bilinear"):
    """Adapts a timm ViT/DeiT state dict to an encoder configuration.

    Arguments
    ---------
    state : dict
        timm ViT or DeiT state dict (with or without ``dist_token``).
    config : ast_lobes.AudioSpectrogramTransformerConfig
        The target architecture; its patch grid decides the position
        embedding.
    position_mode : str
        ``bilinear`` (paper), ``nearest``, or ``reinit`` (new random patch
        positions; the paper's ablation).

    Returns
    -------
    dict
        State dict in the encoder's naming and shapes.

    Example
    -------
    >>> import timm
    >>> from ast_lobes import AudioSpectrogramTransformerConfig
    >>> vit = timm.create_model("deit_tiny_distilled_patch16_224",
    ...                         pretrained=False, depth=1)
    >>> config = AudioSpectrogramTransformerConfig.from_size(
    ...     "tiny224", depth=1, target_length=100)
    >>> state = imagenet_to_ast_state_dict(vit.state_dict(), config)
    >>> state["patch_embed.proj.weight"].shape
    torch.Size([192, 1, 16, 16])
    >>> state["pos_embed"].shape
    torch.Size([1, 110, 192])
    """
    if position_mode not in POSITION_MODES:
        raise ValueError(
            f"Unknown position mode {position_mode!r}; expected one of "
            f"{POSITION_MODES}"
        )
    state = {
        name: tensor
        for name, tensor in state.items()
        if not name.startswith(IMAGENET_HEAD_KEYS)
    }
    for required in ("patch_embed.proj.weight", "pos_embed", "cls_token"):
        if required not in state:
            raise CheckpointError(
                f"ImageNet weights lack {required}: not a timm ViT/DeiT"
            )
    conv = state["patch_embed.proj.weight"]
    if tuple(conv.shape[2:]) != config.patch_size:
        raise CheckpointError(
            f"ImageNet patches are {tuple(conv.shape[2:])} but the encoder "
            f"uses {config.patch_size}; other patch shapes train from "
            "scratch"
        )
    state["patch_embed.proj.weight"] = conv.sum(dim=1, keepdim=True)

    pos = state["pos_embed"]
    n_special = 2 if "dist_token" in state else 1
    if "dist_token" not in state:
        state["dist_token"] = state["cls_token"].clone()
    special = pos[:, :n_special]
    if n_special == 1:
        special = torch.cat((special, special), dim=1)
    side = math.isqrt(pos.shape[1] - n_special)
    if side * side != pos.shape[1] - n_special:
        raise CheckpointError(
            f"ImageNet position embedding of {pos.shape[1]} tokens is not a "
            "square grid"
        )
    f_dim, t_dim = config.grid
    if position_mode == "reinit":
        patch_pos = random_patch_positions(f_dim * t_dim, pos.shape[2])
    else:
        patch_pos = resize_patch_positions(
            pos[:, n_special:], (side, side), config.grid, position_mode
        )
    state["pos_embed"] = torch.cat((special, patch_pos.to(pos)), dim=1)
    return state
