"""Building an encoder that starts from published AST or ImageNet weights.

``pretrained_encoder`` is the one call (and the one YAML block) that builds
an ``AudioSpectrogramTransformer`` and fills it from a checkpoint::

    encoder: !apply:ast_lobes.pretrained_encoder
      model_size: base384
      target_length: 512
      audioset_weights: audioset_10_10_0.4593

Authors
 * AST-SpeechBrain contributors 2026
"""

from ast_lobes.model.config import BLOCK_POOLINGS, ModelSettingError
from ast_lobes.model.encoder import AudioSpectrogramTransformer
from ast_lobes.weights.files import load_state_dict_exactly
from ast_lobes.weights.imagenet import (
    imagenet_source,
    imagenet_to_ast_state_dict,
    read_imagenet_state_dict,
)
from ast_lobes.weights.published import (
    checkpoint_encoder_state,
    read_ast_checkpoint,
)
from ast_lobes.weights.self_supervised import pretrained_encoder_state
from ast_lobes.weights.sources import load_encoder_source


def pretrained_encoder(
    imagenet_weights=None,
    audioset_weights=None,
    position_resize_mode="bilinear",
    savedir=None,
    ssast_weights=None,
    **encoder_args,
):
    """An AST encoder built from ``encoder_args``, with starting weights.

    Arguments
    ---------
    imagenet_weights : str, bool or None
        ImageNet ViT/DeiT weights: True for the DeiT of ``model_size``, a
        timm model name, or a local ``.pth``/``.safetensors`` file.
    audioset_weights : str or None
        A published AST (name, hub id, ``.pth`` or Hugging Face folder; see
        ``ast_lobes.weights.published.load_ast_checkpoint``); its head is
        not used.
    ssast_weights : str or None
        A folder written by this project's masked patch pretraining
        (``recipes/SSAST/pretrain.py``): same size and patch shape, any
        strides and frames.
    position_resize_mode : str
        How the pretrained position embedding is fitted to this encoder's
        patch grid: ``bilinear`` (paper), ``nearest``, or ``reinit``.
    savedir : str or None
        Download folder for published checkpoints.
    **encoder_args : dict
        Arguments of ``AudioSpectrogramTransformer``.

    Returns
    -------
    ast_lobes.AudioSpectrogramTransformer

    Example
    -------
    >>> import os, tempfile, timm, torch
    >>> path = os.path.join(tempfile.mkdtemp(), "deit.pth")
    >>> vit = timm.create_model("deit_tiny_distilled_patch16_224",
    ...                         pretrained=False, depth=1)
    >>> torch.save(vit.state_dict(), path)
    >>> encoder = pretrained_encoder(
    ...     imagenet_weights=path, model_size="tiny224", depth=1,
    ...     target_length=100)
    >>> torch.equal(encoder.cls_token, vit.cls_token)
    True
    """
    given = [imagenet_weights, audioset_weights, ssast_weights]
    if sum(bool(source) for source in given) > 1:
        raise ModelSettingError(
            "Give one of imagenet_weights, audioset_weights, ssast_weights"
        )
    encoder = AudioSpectrogramTransformer(**encoder_args)
    if any(given) and encoder.config.stem_channels:
        raise ModelSettingError(
            "stem_channels: a convolutional stem has no pretrained weights "
            "(ImageNet, AudioSet or SSAST encoders read patches from the "
            "fbank itself); set stem_channels 0 or train from scratch"
        )
    if ssast_weights:
        state = pretrained_encoder_state(
            str(ssast_weights), encoder.config, position_resize_mode
        )
        load_state_dict_exactly(encoder, state, str(ssast_weights))
    if imagenet_weights:
        source = imagenet_source(encoder.config, imagenet_weights)
        state = imagenet_to_ast_state_dict(
            read_imagenet_state_dict(source),
            encoder.config,
            position_resize_mode,
        )
        load_state_dict_exactly(encoder, state, str(source))
    elif audioset_weights:
        checkpoint = read_ast_checkpoint(audioset_weights, savedir)
        state = checkpoint_encoder_state(
            checkpoint, encoder.config, position_resize_mode
        )
        load_state_dict_exactly(encoder, state, checkpoint.source)
    return encoder


# The one-vector pooling a transfer reads where the source's own pooling
# is not one: a pair's first token, time steps and blocks averaged.
ONE_VECTOR = {"cls_dist_pair": "cls_dist", "mean_dist_pair": "mean",
              "time_steps": "mean"}  # fmt: skip
ONE_VECTOR.update({name: name[len("blocks_") :] for name in BLOCK_POOLINGS})


def source_pooling(source, pooling=None):
    """The one-vector pooling (``cls_dist``, ``cls`` or ``mean``) a new
    head reads from a source's encoder: ``pooling`` when given, else the
    source's own (``ONE_VECTOR`` for a pair, time steps or blocks), and
    ``mean`` for an SSAST encoder, whose class tokens no task trained.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> def source(pooling, kind="exported"):
    ...     return SimpleNamespace(kind=kind,
    ...                            encoder=SimpleNamespace(pooling=pooling))
    >>> source_pooling(source("cls_dist")), source_pooling(source("cls",
    ...     "ssast")), source_pooling(source("mean_dist_pair"), "cls")
    ('cls_dist', 'mean', 'cls')
    """
    if pooling is not None:
        if pooling not in ("cls_dist", "cls", "mean"):
            raise ModelSettingError(
                f"pooling {pooling!r}: a new head on a pretrained encoder "
                "reads cls_dist, cls or mean (null: the source's own)"
            )
        return pooling
    if source.kind == "ssast":
        return "mean"
    own = source.encoder.pooling
    return ONE_VECTOR.get(own, own)


def source_encoder(source, pooling=None, block_weights=False, savedir=None):
    """The encoder of a pretrained source (``load_encoder_source``: an
    exported model folder, a published AST, an SSAST encoder folder), its
    weights as they are, pooled for a new head: one vector
    (``source_pooling``), or with ``block_weights`` that pooling of every
    block (``blocks_<pooling>``, for a ``BlockWeightedHead``).

    Arguments
    ---------
    source : str
        The source (a recipe's ``pretrained``).
    pooling : str or None
        ``cls_dist``, ``cls`` or ``mean``; None: the source's own.
    block_weights : bool
        Pool every block (``blocks_*``) instead of the last.
    savedir : str or None
        Where downloads go.

    Returns
    -------
    ast_lobes.AudioSpectrogramTransformer

    Example
    -------
    >>> import tempfile
    >>> from ast_lobes.weights.self_supervised import save_pretrained_encoder
    >>> encoder = AudioSpectrogramTransformer(model_size=None, embed_dim=32,
    ...     depth=2, num_heads=2, target_length=96, fstride=16, tstride=16)
    >>> folder = save_pretrained_encoder(tempfile.mkdtemp(), encoder)
    >>> source_encoder(folder, block_weights=True).pooling
    'blocks_mean'
    """
    if not source:
        raise ModelSettingError(
            "pretrained: no source given; give the model to start from (an "
            "exported model folder, a published AST name, .pth or Hugging "
            "Face folder or hub id, or an SSAST encoder folder)"
        )
    loaded = load_encoder_source(source, savedir)
    one = source_pooling(loaded, pooling)
    encoder = loaded.encoder
    chosen = f"blocks_{one}" if block_weights else one
    encoder.config = encoder.config.replace(pooling=chosen)
    return encoder.eval()
