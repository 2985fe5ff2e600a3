"""Loading published AST checkpoints: the original ``.pth`` and Hugging Face.

Formats
-------
* Original (YuanGongND/ast): one ``.pth`` state dict with ``module.v.*``
  (timm ViT names) and ``module.mlp_head.{0,1}.*`` (LayerNorm, Linear).
* Hugging Face: a directory with ``config.json`` and ``model.safetensors`` or
  ``pytorch_model.bin``, with transformers-4 names
  (``encoder.layer.N.attention.attention.query``) or transformers-5 names
  (``layers.N.attention.q_proj``).

Authors
 * AST-SpeechBrain contributors 2026
"""

import json
import os
import re
from dataclasses import dataclass, field

import torch

from ast_lobes.encoder import AudioSpectrogramTransformer, patch_grid_size
from ast_lobes.head import AudioClassificationHead
from ast_lobes.position import resize_patch_positions
from ast_lobes.state_dict import (
    CheckpointError,
    load_state_dict_exactly,
    read_state_dict_file,
)

_DROPBOX = "https://www.dropbox.com/s/"
PUBLISHED_CHECKPOINTS = {
    "audioset_10_10_0.4593": _DROPBOX
    + "ca0b1v2nlxzyeb4/audioset_10_10_0.4593.pth?dl=1",
    "audioset_10_10_0.4495": _DROPBOX
    + "1tv0hovue1bxupk/audioset_10_10_0.4495.pth?dl=1",
    "audioset_10_10_0.4483": _DROPBOX
    + "6u5sikl4b9wo4u5/audioset_10_10_0.4483.pth?dl=1",
    "audioset_10_10_0.4475": _DROPBOX
    + "kt6i0v9fvfm1mbq/audioset_10_10_0.4475.pth?dl=1",
    "audioset_12_12_0.4467": _DROPBOX
    + "snfhx3tizr4nuc8/audioset_12_12_0.4467.pth?dl=1",
    "audioset_14_14_0.4431": _DROPBOX
    + "z18s6pemtnxm4k7/audioset_14_14_0.4431.pth?dl=1",
    "audioset_16_16_0.4422": _DROPBOX
    + "mdsa4t1xmcimia6/audioset_16_16_0.4422.pth?dl=1",
    "speechcommands_10_10_0.9812": _DROPBOX
    + "q0tbqpwv44pquwy/speechcommands_10_10_0.9812.pth?dl=1",
}
ORIGINAL_NAME = re.compile(r"(audioset|speechcommands)_(\d+)_(\d+)_")
ORIGINAL_FRAMES = {"audioset": 1024, "speechcommands": 128}
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


@dataclass
class AstCheckpoint:
    """Weights and architecture of a published AST model, in our naming."""

    source: str
    encoder_state: dict
    head_state: dict
    grid: tuple
    encoder_kwargs: dict
    head_norm_eps: float
    labels: list = field(default=None)


def default_cache_dir():
    """Where downloaded checkpoints are kept (``$AST_LOBES_CACHE``)."""
    return os.environ.get(
        "AST_LOBES_CACHE",
        os.path.join(os.path.expanduser("~"), ".cache", "ast_lobes"),
    )


def fetch_checkpoint(source, savedir=None):
    """Finds or downloads a checkpoint; returns a local file or directory.

    Arguments
    ---------
    source : str
        A local ``.pth`` file or Hugging Face directory; a published
        original checkpoint name such as ``audioset_10_10_0.4593``; or a
        Hugging Face hub id such as ``MIT/ast-finetuned-audioset-10-10-0.4593``.
    savedir : str or None
        Download folder (default: ``default_cache_dir()``).

    Returns
    -------
    str
        Local path.
    """
    source = os.fspath(source)
    if os.path.exists(source):
        return source
    savedir = savedir or default_cache_dir()
    name = os.path.basename(source).removesuffix(".pth")
    if name in PUBLISHED_CHECKPOINTS:
        target = os.path.join(savedir, name + ".pth")
        if not os.path.isfile(target):
            os.makedirs(savedir, exist_ok=True)
            try:
                torch.hub.download_url_to_file(
                    PUBLISHED_CHECKPOINTS[name], target + ".part"
                )
            except Exception as error:
                raise CheckpointError(
                    f"{name}: download failed ({error}); fetch "
                    f"{PUBLISHED_CHECKPOINTS[name]} by hand and pass the file"
                ) from error
            os.replace(target + ".part", target)
        return target
    if re.fullmatch(r"[\w.-]+/[\w.-]+", source):
        from huggingface_hub import snapshot_download

        try:
            return snapshot_download(
                source,
                cache_dir=savedir,
                allow_patterns=["config.json", "*.safetensors", "*.bin"],
            )
        except Exception as error:
            raise CheckpointError(
                f"{source}: not a local path, and the Hugging Face hub "
                f"download failed ({error})"
            ) from error
    raise CheckpointError(
        f"{source}: no such file or directory, and not a published "
        f"checkpoint name ({', '.join(PUBLISHED_CHECKPOINTS)}) or hub id"
    )


def fuse_qkv(state):
    """Concatenates separate q/k/v projections into timm's fused ``qkv``."""
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


def convert_hf_state_dict(state):
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
    >>> enc, head = convert_hf_state_dict({
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


def read_hf_checkpoint(directory):
    """Reads a Hugging Face AST directory into an ``AstCheckpoint``."""
    config_path = os.path.join(directory, "config.json")
    if not os.path.isfile(config_path):
        raise CheckpointError(f"{directory}: no config.json (not a HF model)")
    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    if config.get("model_type") != "audio-spectrogram-transformer":
        raise CheckpointError(
            f"{config_path}: model_type is {config.get('model_type')!r}, "
            "not 'audio-spectrogram-transformer'"
        )
    if config.get("hidden_act", "gelu") != "gelu" or not config.get(
        "qkv_bias", True
    ):
        raise CheckpointError(
            f"{config_path}: only GELU blocks with qkv bias are supported"
        )
    weight_files = [
        os.path.join(directory, name)
        for name in ("model.safetensors", "pytorch_model.bin")
        if os.path.isfile(os.path.join(directory, name))
    ]
    if not weight_files:
        raise CheckpointError(
            f"{directory}: no model.safetensors or pytorch_model.bin"
        )
    encoder_state, head_state = convert_hf_state_dict(
        read_state_dict_file(weight_files[0])
    )
    patch = config.get("patch_size", 16)
    fstride = config.get("frequency_stride", 10)
    tstride = config.get("time_stride", 10)
    input_fdim = config.get("num_mel_bins", 128)
    input_tdim = config.get("max_length", 1024)
    hidden = config["hidden_size"]
    eps = config.get("layer_norm_eps", 1e-12)
    id2label = config.get("id2label") or {}
    labels = [id2label[key] for key in sorted(id2label, key=int)] or None
    return AstCheckpoint(
        source=directory,
        encoder_state=encoder_state,
        head_state=head_state,
        grid=patch_grid_size(
            input_tdim, input_fdim, (patch, patch), fstride, tstride
        ),
        encoder_kwargs=dict(
            model_size=None,
            embed_dim=hidden,
            depth=config["num_hidden_layers"],
            num_heads=config["num_attention_heads"],
            mlp_ratio=config.get("intermediate_size", 4 * hidden) / hidden,
            patch_size=patch,
            fstride=fstride,
            tstride=tstride,
            input_fdim=input_fdim,
            input_tdim=input_tdim,
            layer_norm_eps=eps,
        ),
        head_norm_eps=eps,
        labels=labels,
    )


def original_grid(path, n_patches, checkpoint_grid=None):
    """Patch grid, strides and frames of an original-format checkpoint.

    The published file names carry the strides
    (``audioset_<fstride>_<tstride>_<mAP>.pth``), all on 128 mel bins; other
    files default to the AudioSet setting (stride 10, 1024 frames) unless
    ``checkpoint_grid`` says otherwise.
    """
    match = ORIGINAL_NAME.search(os.path.basename(path))
    dataset, fstride, tstride = "audioset", 10, 10
    if match:
        dataset = match.group(1)
        fstride, tstride = int(match.group(2)), int(match.group(3))
    frames = ORIGINAL_FRAMES[dataset]
    grid = (
        tuple(checkpoint_grid)
        if checkpoint_grid
        else patch_grid_size(frames, 128, (16, 16), fstride, tstride)
    )
    if grid[0] * grid[1] != n_patches:
        raise CheckpointError(
            f"{path}: position embedding has {n_patches} patches, which does "
            f"not fit the assumed {grid[0]} x {grid[1]} grid; pass "
            "checkpoint_grid=(f_dim, t_dim)"
        )
    frames = (grid[1] - 1) * tstride + 16 if checkpoint_grid else frames
    return grid, fstride, tstride, frames


def read_original_checkpoint(path, checkpoint_grid=None):
    """Reads an original YuanGongND/ast ``.pth`` into an ``AstCheckpoint``."""
    state = read_state_dict_file(path)
    encoder_state, head_state = {}, {}
    for name, tensor in state.items():
        bare = name.removeprefix("module.")
        if bare.startswith(("v.head.", "v.head_dist.")):
            continue
        if bare.startswith("v."):
            encoder_state[bare[2:]] = tensor
        elif bare.startswith("mlp_head.0."):
            head_state["norm." + bare[len("mlp_head.0.") :]] = tensor
        elif bare.startswith("mlp_head.1."):
            head_state["linear." + bare[len("mlp_head.1.") :]] = tensor
        else:
            raise CheckpointError(
                f"{path}: unexpected key {name}; not an original AST "
                "checkpoint (module.v.*, module.mlp_head.*)"
            )
    if "pos_embed" not in encoder_state or "cls_token" not in encoder_state:
        raise CheckpointError(f"{path}: no module.v.pos_embed / cls_token")
    dim = encoder_state["cls_token"].shape[-1]
    depth = len(
        {
            name.split(".")[1]
            for name in encoder_state
            if name.startswith("blocks.")
        }
    )
    grid, fstride, tstride, frames = original_grid(
        path, encoder_state["pos_embed"].shape[1] - 2, checkpoint_grid
    )
    conv = encoder_state["patch_embed.proj.weight"]
    return AstCheckpoint(
        source=path,
        encoder_state=encoder_state,
        head_state=head_state,
        grid=grid,
        encoder_kwargs=dict(
            model_size=None,
            embed_dim=dim,
            depth=depth,
            num_heads=dim // 64,
            mlp_ratio=encoder_state["blocks.0.mlp.fc1.weight"].shape[0] / dim,
            patch_size=tuple(conv.shape[2:]),
            fstride=fstride,
            tstride=tstride,
            input_fdim=128,
            input_tdim=frames,
            layer_norm_eps=1e-6,
        ),
        head_norm_eps=1e-5,
    )


def read_ast_checkpoint(source, savedir=None, checkpoint_grid=None):
    """Reads any supported AST checkpoint into an ``AstCheckpoint``.

    Arguments
    ---------
    source : str
        See ``fetch_checkpoint``.
    savedir : str or None
        Download folder.
    checkpoint_grid : tuple or None
        ``(f_dim, t_dim)`` of an original checkpoint whose file name does
        not tell it.

    Returns
    -------
    AstCheckpoint
    """
    path = fetch_checkpoint(source, savedir)
    if os.path.isdir(path):
        return read_hf_checkpoint(path)
    return read_original_checkpoint(path, checkpoint_grid)


def adapt_encoder_state(checkpoint, encoder, position_mode="bilinear"):
    """The checkpoint's encoder weights with the position grid of ``encoder``.

    The grid is cut around its centre or interpolated as in the reference
    (time first, then frequency); ``reinit`` keeps the encoder's own random
    patch positions.
    """
    state = dict(checkpoint.encoder_state)
    if checkpoint.grid == encoder.grid:
        return state
    pos = state["pos_embed"]
    if position_mode == "reinit":
        patch_pos = encoder.pos_embed.detach()[:, 2:].clone()
    else:
        patch_pos = resize_patch_positions(
            pos[:, 2:], checkpoint.grid, encoder.grid, position_mode
        )
    state["pos_embed"] = torch.cat((pos[:, :2], patch_pos), dim=1)
    return state


def load_ast_encoder_weights(encoder, source, position_mode="bilinear"):
    """Fills ``encoder`` from a published AST checkpoint (head not used).

    Arguments
    ---------
    encoder : ast_lobes.AudioSpectrogramTransformer
        Encoder of the checkpoint's width and depth; any grid or stride.
    source : str
        See ``fetch_checkpoint``.
    position_mode : str
        ``bilinear``, ``nearest`` or ``reinit``.
    """
    checkpoint = read_ast_checkpoint(source)
    state = adapt_encoder_state(checkpoint, encoder, position_mode)
    load_state_dict_exactly(encoder, state, checkpoint.source)


def load_ast_checkpoint(
    source, savedir=None, checkpoint_grid=None, **lobe_kwargs
):
    """Loads a published AST checkpoint as ``(encoder, classifier)``.

    ``classifier(encoder(fbank))`` gives the checkpoint's logits
    ``[batch, 1, n_labels]``. An original ``.pth`` does not record its number
    of heads: it is taken as ``dim // 64`` (every DeiT size); pass
    ``num_heads`` for other widths. Keyword arguments override the encoder's
    settings taken from the checkpoint (``input_tdim``, ``fstride``,
    ``tstride``, ``input_fdim``, ``pooling``, ``output_all_tokens``...); the
    position embedding is then adapted to the new patch grid.

    Arguments
    ---------
    source : str
        A local original ``.pth`` or Hugging Face directory, a published
        checkpoint name (``audioset_10_10_0.4593``) or a hub id.
    savedir : str or None
        Download folder.
    checkpoint_grid : tuple or None
        ``(f_dim, t_dim)`` for an original checkpoint with a non-standard
        name.
    **lobe_kwargs : dict
        Overrides for ``AudioSpectrogramTransformer``.

    Returns
    -------
    encoder : ast_lobes.AudioSpectrogramTransformer
    classifier : ast_lobes.AudioClassificationHead
        Its ``labels`` attribute holds label names when the checkpoint has
        them (Hugging Face ``id2label``), else None.
    """
    position_mode = lobe_kwargs.pop("position_resize_mode", "bilinear")
    checkpoint = read_ast_checkpoint(source, savedir, checkpoint_grid)
    kwargs = {**checkpoint.encoder_kwargs, **lobe_kwargs}
    encoder = AudioSpectrogramTransformer(**kwargs)
    state = adapt_encoder_state(checkpoint, encoder, position_mode)
    load_state_dict_exactly(encoder, state, checkpoint.source)
    n_labels = checkpoint.head_state["linear.weight"].shape[0]
    classifier = AudioClassificationHead(
        encoder.embed_dim, n_labels, norm_eps=checkpoint.head_norm_eps
    )
    load_state_dict_exactly(
        classifier, checkpoint.head_state, checkpoint.source
    )
    classifier.labels = checkpoint.labels
    return encoder.eval(), classifier.eval()
