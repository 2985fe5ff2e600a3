"""Pure state-dict conversions into this encoder's naming and shapes.

Every function takes a state dict (and the configurations involved) and
returns a new state dict; none builds or fills a module. As timm's
``checkpoint_filter_fn``, they are what loading a foreign checkpoint means.

Authors
 * AST-SpeechBrain contributors 2026
"""

import re

import torch
from torch import nn

from ast_lobes.model.position import resize_patch_positions
from ast_lobes.weights.files import CheckpointError

POSITION_MODES = ("bilinear", "nearest", "reinit")
HF_PREFIX = "audio_spectrogram_transformer."
HF_RENAMES = [
    (r"^embeddings\.cls_token$", "cls_token"),
    (r"^embeddings\.distillation_token$", "dist_token"),
    (r"^embeddings\.position_embeddings$", "pos_embed"),
    (r"^embeddings\.patch_embeddings\.projection\.", "patch_embed.proj."),
    (r"^(?:encoder\.layer|layers)\.(\d+)\.", r"blocks.\1."),
    (r"\.attention\.attention\.query\.", ".attn.q."),
    (r"\.attention\.attention\.key\.", ".attn.k."),
    (r"\.attention\.attention\.value\.", ".attn.v."),
    (r"\.attention\.output\.dense\.", ".attn.proj."),
    (r"\.attention\.([qkv])_proj\.", r".attn.\1."),
    (r"\.attention\.o_proj\.", ".attn.proj."),
    (r"\.layernorm_before\.", ".norm1."),
    (r"\.layernorm_after\.", ".norm2."),
    (r"\.intermediate\.dense\.", ".mlp.fc1."),
    (r"\.output\.dense\.", ".mlp.fc2."),
    (r"^layernorm\.", "norm."),
]
HF_HEAD_RENAMES = {
    "classifier.layernorm.": "norm.",
    "classifier.dense.": "linear.",
}
ORIGINAL_HEAD_RENAMES = {"mlp_head.0.": "norm.", "mlp_head.1.": "linear."}


def fuse_qkv(state):
    """Concatenates separate q/k/v projections into timm's fused ``qkv``.

    Example
    -------
    >>> fused = fuse_qkv({f"blocks.0.attn.{p}.bias": torch.full((1,), i)
    ...                   for i, p in enumerate("qkv")})
    >>> fused["blocks.0.attn.qkv.bias"].tolist()
    [0, 1, 2]
    """
    fused = {}
    for name, tensor in state.items():
        match = re.fullmatch(
            r"(blocks\.\d+\.attn)\.([qkv])\.(weight|bias)", name
        )
        if match is None:
            fused[name] = tensor
            continue
        prefix, _, kind = match.groups()
        target = f"{prefix}.qkv.{kind}"
        if target in fused:
            continue
        parts = [state.get(f"{prefix}.{part}.{kind}") for part in "qkv"]
        if any(part is None for part in parts):
            raise CheckpointError(f"{prefix}: q, k and v are not all present")
        fused[target] = torch.cat(parts, dim=0)
    return fused


def hf_to_ast_state(state):
    """Renames a Hugging Face AST state dict into encoder and head dicts.

    Arguments
    ---------
    state : dict
        ``ASTForAudioClassification`` state dict (transformers 4 or 5).

    Returns
    -------
    encoder_state : dict
    head_state : dict

    Example
    -------
    >>> enc, head = hf_to_ast_state({
    ...     "audio_spectrogram_transformer.layers.0.attention.q_proj.bias":
    ...         torch.zeros(2),
    ...     "audio_spectrogram_transformer.layers.0.attention.k_proj.bias":
    ...         torch.ones(2),
    ...     "audio_spectrogram_transformer.layers.0.attention.v_proj.bias":
    ...         torch.ones(2),
    ...     "classifier.dense.bias": torch.zeros(3)})
    >>> enc["blocks.0.attn.qkv.bias"].tolist(), list(head)
    ([0.0, 0.0, 1.0, 1.0, 1.0, 1.0], ['linear.bias'])
    """
    encoder_state, head_state = {}, {}
    for name, tensor in state.items():
        head_prefix = next(
            (p for p in HF_HEAD_RENAMES if name.startswith(p)), None
        )
        if head_prefix is not None:
            new_name = HF_HEAD_RENAMES[head_prefix] + name[len(head_prefix) :]
            head_state[new_name] = tensor
            continue
        if not name.startswith(HF_PREFIX):
            raise CheckpointError(f"unexpected Hugging Face key {name}")
        new_name = name[len(HF_PREFIX) :]
        for pattern, replacement in HF_RENAMES:
            new_name = re.sub(pattern, replacement, new_name)
        encoder_state[new_name] = tensor
    return fuse_qkv(encoder_state), head_state


def original_to_ast_state(state, source="checkpoint"):
    """Splits an original AST state dict into encoder and head dicts.

    ``module.v.*`` holds timm ViT names (the unused ImageNet ``head`` and
    ``head_dist`` are dropped) and ``module.mlp_head.{0,1}`` the head.

    Example
    -------
    >>> enc, head = original_to_ast_state({
    ...     "module.v.cls_token": torch.zeros(1, 1, 4),
    ...     "module.v.head.bias": torch.zeros(1000),
    ...     "module.mlp_head.1.bias": torch.zeros(5)})
    >>> list(enc), list(head)
    (['cls_token'], ['linear.bias'])
    """
    encoder_state, head_state = {}, {}
    for name, tensor in state.items():
        bare = name.removeprefix("module.")
        if bare.startswith(("v.head.", "v.head_dist.")):
            continue
        if bare.startswith("v."):
            encoder_state[bare[2:]] = tensor
            continue
        prefix = next(
            (p for p in ORIGINAL_HEAD_RENAMES if bare.startswith(p)), None
        )
        if prefix is None:
            raise CheckpointError(
                f"{source}: unexpected key {name}; not an original AST "
                "checkpoint (module.v.*, module.mlp_head.*)"
            )
        head_state[ORIGINAL_HEAD_RENAMES[prefix] + bare[len(prefix) :]] = tensor
    return encoder_state, head_state


def random_patch_positions(n_patches, dim):
    """Fresh patch position embeddings, initialised as the encoder's."""
    positions = torch.zeros(1, n_patches, dim)
    return nn.init.trunc_normal_(positions, std=0.02)


def resize_ast_positions(state, from_grid, to_grid, mode="bilinear"):
    """An AST state dict with its position embedding on another grid.

    The grid is cut around its centre or interpolated as in the reference
    (time first, then frequency); ``reinit`` draws new random patch
    positions (cls and distillation positions are always kept).

    Arguments
    ---------
    state : dict
        Encoder state dict with ``pos_embed`` ``[1, 2 + f * t, dim]``.
    from_grid : tuple
        ``(f, t)`` of ``state``.
    to_grid : tuple
        ``(f, t)`` wanted.
    mode : str
        ``bilinear``, ``nearest`` or ``reinit``.

    Returns
    -------
    dict

    Example
    -------
    >>> state = {"pos_embed": torch.zeros(1, 2 + 12 * 101, 8)}
    >>> resize_ast_positions(state, (12, 101), (12, 50))["pos_embed"].shape
    torch.Size([1, 602, 8])
    """
    if mode not in POSITION_MODES:
        raise ValueError(
            f"Unknown position mode {mode!r}; expected one of {POSITION_MODES}"
        )
    state = dict(state)
    if tuple(from_grid) == tuple(to_grid):
        return state
    pos = state["pos_embed"]
    if mode == "reinit":
        patch_pos = random_patch_positions(
            to_grid[0] * to_grid[1], pos.shape[2]
        )
    else:
        patch_pos = resize_patch_positions(pos[:, 2:], from_grid, to_grid, mode)
    state["pos_embed"] = torch.cat((pos[:, :2], patch_pos.to(pos)), dim=1)
    return state
