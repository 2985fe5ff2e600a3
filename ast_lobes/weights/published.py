"""Reading published AST checkpoints: the original ``.pth`` and Hugging Face.

Formats
-------
* Original (YuanGongND/ast): one ``.pth`` state dict with ``module.v.*``
  (timm ViT names) and ``module.mlp_head.{0,1}.*`` (LayerNorm, Linear).
* Hugging Face: a directory with ``config.json`` and ``model.safetensors`` or
  ``pytorch_model.bin``, with transformers-4 names
  (``encoder.layer.N.attention.attention.query``) or transformers-5 names
  (``layers.N.attention.q_proj``).

Facts about the published files (URLs, architecture, front end, labels)
come from ``ast_lobes.weights.registry``.

Authors
 * AST-SpeechBrain contributors 2026
"""

import os
import re
from dataclasses import dataclass

import torch

from ast_lobes.model.cache import default_cache_dir
from ast_lobes.model.config import AudioSpectrogramTransformerConfig
from ast_lobes.model.encoder import AudioSpectrogramTransformer
from ast_lobes.model.head import AudioClassificationHead
from ast_lobes.weights.conversion import (
    hf_to_ast_state,
    original_to_ast_state,
    resize_ast_positions,
)
from ast_lobes.weights.files import (
    CheckpointError,
    load_state_dict_exactly,
    read_state_dict_file,
)
from ast_lobes.weights.folder_limits import (
    HF_REQUIRED,
    check_hf_config,
    implied_weights,
    read_description_file,
)
from ast_lobes.weights.registry import (
    AUDIOSET_FRONT_END,
    PUBLISHED_CHECKPOINTS,
    FrontEnd,
    find_published,
)


@dataclass
class AstCheckpoint:
    """Weights and architecture of a published AST model, in our naming.

    ``config`` describes the checkpoint's own grid; ``front_end`` is the
    front end it was trained with when known (registry entry or Hugging
    Face ``preprocessor_config.json``), else None.
    """

    source: str
    encoder_state: dict
    head_state: dict
    config: AudioSpectrogramTransformerConfig
    head_norm_eps: float
    labels: list = None
    front_end: FrontEnd = None
    multi_label: bool = True


def fetch_checkpoint(source, savedir=None, entry=None):
    """Finds or downloads a checkpoint; returns a local file or directory.

    Arguments
    ---------
    source : str
        A local ``.pth`` file or Hugging Face directory; a published
        original checkpoint name such as ``audioset_10_10_0.4593``; or a
        Hugging Face hub id such as ``MIT/ast-finetuned-audioset-10-10-0.4593``.
    savedir : str or None
        Download folder (default: ``default_cache_dir()``).
    entry : PublishedCheckpoint or None
        The registry entry ``source`` names (``find_published``).

    Returns
    -------
    str
        Local path.
    """
    source = os.fspath(source)
    if os.path.exists(source):
        return source
    savedir = savedir or default_cache_dir()
    if entry is not None and entry.source_format == "original":
        target = os.path.join(savedir, entry.name + ".pth")
        if not os.path.isfile(target):
            os.makedirs(savedir, exist_ok=True)
            try:
                torch.hub.download_url_to_file(entry.location, target + ".part")
            except Exception as error:
                raise CheckpointError(
                    f"{entry.name}: download failed ({error}); fetch "
                    f"{entry.location} by hand and pass the file"
                ) from error
            os.replace(target + ".part", target)
        return target
    if re.fullmatch(r"[\w.-]+/[\w.-]+", source):
        from huggingface_hub import snapshot_download

        try:
            return snapshot_download(
                source,
                cache_dir=savedir,
                allow_patterns=["*.json", "*.safetensors", "*.bin"],
            )
        except Exception as error:
            raise CheckpointError(
                f"{source}: not a local path, and the Hugging Face hub "
                f"download failed ({error})"
            ) from error
    names = ", ".join(name for name in PUBLISHED_CHECKPOINTS if "/" not in name)
    raise CheckpointError(
        f"{source}: no such file or directory, and not a published "
        f"checkpoint name ({names}) or hub id"
    )


def read_json(path, required=HF_REQUIRED):
    """A Hugging Face folder's JSON settings, checked (``check_hf_config``
    with ``required``), or None if the file does not exist."""
    if not os.path.isfile(path):
        return None
    settings = read_description_file(path)
    kind = settings.get("model_type", "audio-spectrogram-transformer")
    if required and kind != "audio-spectrogram-transformer":
        raise CheckpointError(
            f"{path}: model_type is {kind!r}, not "
            "'audio-spectrogram-transformer'"
        )
    check_hf_config(settings, path, required)
    return settings


def hf_front_end(directory, config):
    """The front end of a Hugging Face folder, from its feature extractor
    settings (``preprocessor_config.json``), or None."""
    settings = read_json(
        os.path.join(directory, "preprocessor_config.json"), required=()
    )
    if not settings or "mean" not in settings:
        return None
    return FrontEnd(
        target_length=settings.get("max_length", config.target_length),
        normalization=(float(settings["mean"]), float(settings["std"])),
        sample_rate=settings.get("sampling_rate", 16000),
        n_mels=settings.get("num_mel_bins", config.input_fdim),
    )


def check_hf_sizes(config, encoder_state, config_path, weights_path):
    """Refuses a ``config.json`` whose depth is not the weights' blocks,
    or whose sizes need more weights than the file holds, before any
    model is built (so that its sizes cannot decide how much memory
    loading takes)."""
    blocks = {name.split(".")[1] for name in encoder_state
              if name.startswith("blocks.")}  # fmt: skip
    if len(blocks) != config.depth:
        raise CheckpointError(
            f"{config_path}: num_hidden_layers: {config.depth}, but "
            f"{weights_path} holds {len(blocks)} blocks"
        )
    held = sum(tensor.numel() for tensor in encoder_state.values())
    implied = implied_weights({"encoder": config.as_dict(), "head": {}})
    if implied > held:
        raise CheckpointError(
            f"{config_path}: its sizes (hidden_size, intermediate_size, "
            f"max_length, strides) need at least {implied} weights; "
            f"{weights_path} holds {held}"
        )


def read_hf_checkpoint(directory, entry=None):
    """Reads a Hugging Face AST directory into an ``AstCheckpoint``.

    Arguments
    ---------
    directory : str
        Folder with ``config.json`` and the weights.
    entry : PublishedCheckpoint or None
        The registry entry of the hub id it was downloaded as.

    Returns
    -------
    AstCheckpoint
    """
    config_path = os.path.join(directory, "config.json")
    hf_config = read_json(config_path)
    if hf_config is None:
        raise CheckpointError(f"{directory}: no config.json (not a HF model)")
    if hf_config.get("model_type") != "audio-spectrogram-transformer":
        raise CheckpointError(
            f"{config_path}: model_type is {hf_config.get('model_type')!r}, "
            "not 'audio-spectrogram-transformer'"
        )
    if hf_config.get("hidden_act", "gelu") != "gelu" or not hf_config.get(
        "qkv_bias", True
    ):
        raise CheckpointError(
            f"{config_path}: only GELU blocks with qkv bias are supported"
        )
    weight_files = [
        os.path.join(directory, file_name)
        for file_name in ("model.safetensors", "pytorch_model.bin")
        if os.path.isfile(os.path.join(directory, file_name))
    ]
    if not weight_files:
        raise CheckpointError(
            f"{directory}: no model.safetensors or pytorch_model.bin"
        )
    encoder_state, head_state = hf_to_ast_state(
        read_state_dict_file(weight_files[0])
    )
    hidden = hf_config["hidden_size"]
    eps = hf_config.get("layer_norm_eps", 1e-12)
    config = AudioSpectrogramTransformerConfig(
        embed_dim=hidden,
        depth=hf_config["num_hidden_layers"],
        num_heads=hf_config["num_attention_heads"],
        mlp_ratio=hf_config.get("intermediate_size", 4 * hidden) / hidden,
        patch_size=hf_config.get("patch_size", 16),
        fstride=hf_config.get("frequency_stride", 10),
        tstride=hf_config.get("time_stride", 10),
        input_fdim=hf_config.get("num_mel_bins", 128),
        target_length=hf_config.get("max_length", 1024),
        layer_norm_eps=eps,
    )
    check_hf_sizes(config, encoder_state, config_path, weight_files[0])
    id2label = hf_config.get("id2label") or {}
    labels = [id2label[key] for key in sorted(id2label, key=int)] or None
    front_end = hf_front_end(directory, config)
    if front_end is None and entry is not None:
        front_end = entry.front_end
    return AstCheckpoint(
        source=directory,
        encoder_state=encoder_state,
        head_state=head_state,
        config=config,
        head_norm_eps=eps,
        labels=labels,
        front_end=front_end,
        multi_label=hf_config.get("problem_type")
        != "single_label_classification",
    )


def original_config(path, encoder_state, checkpoint_grid=None, entry=None):
    """The architecture of an original-format checkpoint.

    A file named as a published one takes its registry ``entry``; any other
    is read from its tensors (heads taken as ``dim // 64``, true of every
    DeiT) on the AudioSet grid (stride 10, 1024 frames, 128 mel bins)
    unless ``checkpoint_grid`` gives ``(f_dim, t_dim)``.
    """
    n_patches = encoder_state["pos_embed"].shape[1] - 2
    if entry is not None and checkpoint_grid is None:
        config = entry.config
    else:
        dim = encoder_state["cls_token"].shape[-1]
        depth = len(
            {
                name.split(".")[1]
                for name in encoder_state
                if name.startswith("blocks.")
            }
        )
        conv = encoder_state["patch_embed.proj.weight"]
        fstride = entry.config.fstride if entry else 10
        tstride = entry.config.tstride if entry else 10
        frames = entry.config.target_length if entry else 1024
        patch = tuple(conv.shape[2:])
        if checkpoint_grid:
            frames = (checkpoint_grid[1] - 1) * tstride + patch[1]
        config = AudioSpectrogramTransformerConfig(
            embed_dim=dim,
            depth=depth,
            num_heads=max(1, dim // 64),
            mlp_ratio=encoder_state["blocks.0.mlp.fc1.weight"].shape[0] / dim,
            patch_size=patch,
            fstride=fstride,
            tstride=tstride,
            input_fdim=128,
            target_length=frames,
        )
    grid = config.grid
    if checkpoint_grid is not None:
        grid = tuple(checkpoint_grid)
    if grid[0] * grid[1] != n_patches:
        raise CheckpointError(
            f"{path}: position embedding has {n_patches} patches, which does "
            f"not fit the assumed {grid[0]} x {grid[1]} grid; pass "
            "checkpoint_grid=(f_dim, t_dim)"
        )
    return config


def read_original_checkpoint(path, checkpoint_grid=None, entry=None):
    """Reads an original YuanGongND/ast ``.pth`` into an ``AstCheckpoint``
    (``entry``: its registry entry, if any)."""
    encoder_state, head_state = original_to_ast_state(
        read_state_dict_file(path), path
    )
    if "pos_embed" not in encoder_state or "cls_token" not in encoder_state:
        raise CheckpointError(f"{path}: no module.v.pos_embed / cls_token")
    return AstCheckpoint(
        source=path,
        encoder_state=encoder_state,
        head_state=head_state,
        config=original_config(path, encoder_state, checkpoint_grid, entry),
        head_norm_eps=1e-5,
        labels=entry.label_names() if entry else None,
        front_end=entry.front_end if entry else None,
        multi_label=entry.multi_label if entry else True,
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
    entry = find_published(source)  # looked up once for the whole load
    path = fetch_checkpoint(source, savedir, entry)
    if os.path.isdir(path):
        return read_hf_checkpoint(path, entry)
    return read_original_checkpoint(path, checkpoint_grid, entry)


def checkpoint_encoder_state(checkpoint, config, position_mode="bilinear"):
    """The checkpoint's encoder weights for an encoder of ``config``."""
    return resize_ast_positions(
        checkpoint.encoder_state,
        checkpoint.config.grid,
        config.grid,
        position_mode,
    )


def checkpoint_modules(checkpoint, position_resize_mode="bilinear", **lobe):
    """Builds and fills ``(encoder, classifier)`` from an ``AstCheckpoint``.

    Keyword arguments override the encoder's settings; the position
    embedding is adapted to the resulting patch grid.
    """
    config = checkpoint.config.replace(**lobe)
    encoder = AudioSpectrogramTransformer.from_config(config)
    state = checkpoint_encoder_state(checkpoint, config, position_resize_mode)
    load_state_dict_exactly(encoder, state, checkpoint.source)
    n_labels = checkpoint.head_state["linear.weight"].shape[0]
    classifier = AudioClassificationHead(
        config.embed_dim, n_labels, norm_eps=checkpoint.head_norm_eps
    )
    load_state_dict_exactly(
        classifier, checkpoint.head_state, checkpoint.source
    )
    classifier.labels = checkpoint.labels
    return encoder.eval(), classifier.eval()


def load_ast_checkpoint(
    source, savedir=None, checkpoint_grid=None, **lobe_kwargs
):
    """Loads a published AST checkpoint as ``(encoder, classifier)``.

    ``classifier(encoder(fbank))`` gives the checkpoint's logits
    ``[batch, 1, n_labels]``. An original ``.pth`` that is not named like
    a published one is read from its tensors (heads taken as ``dim // 64``:
    pass ``num_heads`` for other widths). Keyword arguments override the
    encoder's settings taken from the checkpoint (``target_length``,
    ``fstride``, ``tstride``, ``input_fdim``, ``pooling``,
    ``output_all_tokens``, ``position_resize_mode``...); the position
    embedding is then adapted to the new patch grid.

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
        Overrides for the encoder's configuration.

    Returns
    -------
    encoder : ast_lobes.AudioSpectrogramTransformer
    classifier : ast_lobes.AudioClassificationHead
        Its ``labels`` attribute holds label names when known (Hugging Face
        ``id2label``, or the registry), else None.
    """
    checkpoint = read_ast_checkpoint(source, savedir, checkpoint_grid)
    return checkpoint_modules(checkpoint, **lobe_kwargs)


def default_front_end(checkpoint):
    """The checkpoint's front end, or the AudioSet one on its own frames."""
    if checkpoint.front_end is not None:
        return checkpoint.front_end
    return FrontEnd(
        checkpoint.config.target_length, AUDIOSET_FRONT_END.normalization
    )
