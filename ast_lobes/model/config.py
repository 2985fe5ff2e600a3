"""The architecture of an Audio Spectrogram Transformer, in one object.

``AudioSpectrogramTransformerConfig`` is what the encoder is built from,
what the checkpoint readers produce and what a model export writes, so
the three cannot disagree on a field.

Authors
 * AST-SpeechBrain contributors 2026
"""

import dataclasses
import numbers
from dataclasses import dataclass

from ast_lobes.compat.aliases import renamed_fields

STEM_KINDS = ("image", "time", "time_image")
# the kinds whose stem reads every mel bin of a frame (frame patches only)
TIME_STEM_KINDS = ("time", "time_image")
STEM_NORMS = ("none", "batch")


class ModelSettingError(ValueError):
    """An encoder setting that is unknown or contradicts another; the
    message names the keys (a recipe stops with it, exit status 2)."""


POOLING_MODES = (
    "cls_dist", "cls", "mean", "cls_dist_pair", "mean_dist_pair", "time_steps",
    "blocks_cls_dist", "blocks_cls", "blocks_mean",
)  # fmt: skip
# Poolings of every block's output, [batch, depth, dim]: the one-vector
# pooling after the prefix, of each block's tokens through the final norm.
BLOCK_POOLINGS = ("blocks_cls_dist", "blocks_cls", "blocks_mean")


@dataclass(frozen=True)
class ModelSize:
    """A DeiT backbone size and the ImageNet model that provides it."""

    embed_dim: int
    num_heads: int
    imagenet_grid: int
    timm_name: str


MODEL_SIZES = {
    "tiny224": ModelSize(192, 3, 14, "deit_tiny_distilled_patch16_224"),
    "small224": ModelSize(384, 6, 14, "deit_small_distilled_patch16_224"),
    "base224": ModelSize(768, 12, 14, "deit_base_distilled_patch16_224"),
    "base384": ModelSize(768, 12, 24, "deit_base_distilled_patch16_384"),
}


def patch_grid_size(n_frames, n_mels, patch_size, fstride, tstride):
    """Number of patches ``(f_dim, t_dim)`` for an input of the given size.

    Arguments
    ---------
    n_frames : int
        Input frames (time).
    n_mels : int
        Mel bins (frequency).
    patch_size : tuple
        Patch ``(frequency, time)`` extent.
    fstride : int
        Stride along frequency.
    tstride : int
        Stride along time.

    Returns
    -------
    tuple
        ``(f_dim, t_dim)``.

    Example
    -------
    >>> patch_grid_size(1024, 128, (16, 16), 10, 10)
    (12, 101)
    """
    if n_frames < patch_size[1] or n_mels < patch_size[0]:
        raise ValueError(
            f"Input of {n_frames} frames x {n_mels} mel bins is smaller "
            f"than one {patch_size[0]}x{patch_size[1]} patch"
        )
    f_dim = (n_mels - patch_size[0]) // fstride + 1
    t_dim = (n_frames - patch_size[1]) // tstride + 1
    return f_dim, t_dim


@dataclass(frozen=True)
class AudioSpectrogramTransformerConfig:
    """Everything that decides the shape and behaviour of an AST encoder.

    Arguments
    ---------
    embed_dim : int
        Token width (768 for the base sizes).
    depth : int
        Number of transformer blocks.
    num_heads : int
        Attention heads per block.
    mlp_ratio : float
        Hidden size of the block MLP relative to ``embed_dim``.
    input_fdim : int
        Mel bins the model is built for.
    target_length : int
        The model's input frames (the position-embedding grid): one name
        in this config, the front end (``KaldiFbank``), the YAML and the
        tagger (``input_tdim``, its old name, is read with a deprecation
        message: ``ast_lobes.compat``).
    fstride : int
        Patch stride along frequency (10 in the paper: 6 bins overlap).
    tstride : int
        Patch stride along time.
    patch_size : tuple
        Patch ``(frequency, time)`` extent; an int means a square patch.
    stem_channels : int
        A convolutional stem of this many channels before the patch
        projection, which then reads those channels (0: none, as the
        reference).
    stem_kind : str
        ``image``: two 3x3 convolutions over the fbank as an image (GELU
        after each); ``time``: two 1-D convolutions over the frames that
        read every mel bin of each frame (kernel 5, then kernel 3 at
        dilation 2, GELU after each: ECAPA-TDNN's front), for frame
        patches of the whole mel axis only (``patch_size[0]`` and
        ``fstride`` equal to ``input_fdim``); ``time_image``: both side
        by side, the time stem of ``stem_channels`` channels and an image
        stem of ``image_stem_channels``, each with its own patch
        projection, their tokens summed (frame patches of the whole mel
        axis only).
    image_stem_channels : int
        Channels of the image stem of a ``time_image`` stem (read by that
        kind only; 0 in the config of the others).
    image_stem_bands : int
        A ``time_image`` stem's image channels averaged over frequency
        into this many bands of equal width before their projection (0:
        not averaged, every mel bin projected; read by that kind only).
    image_stem_stride : int
        A ``time_image`` stem's image stem steps this many mel bins in
        its first convolution (1: every bin; 4 reads every fourth bin's
        3x3 neighbourhood, its later layers and band average over a
        quarter of the rows: 0.60 of the time of a 5-s training step of
        ``cpu.yaml``'s student on a 2-core Xeon with AMX). Dividing
        ``input_fdim``, and
        the rows it leaves divided by ``image_stem_bands``; read by that
        kind only (1 in the config of the others).
    stem_layers : int
        Convolutions in the stem (2): more 3x3 ones in an image stem;
        in a time stem, kernel 3 at dilations 3, 4, ... after the first
        two (in each of a ``time_image`` stem's two).
    stem_norm : str
        ``none`` (the convolutions and GELUs alone) or ``batch``: a
        BatchNorm after each GELU (ECAPA-TDNN's convolution, activation,
        BatchNorm; in training its batch statistics count the zeroed
        frames past a padded clip's end).
    pooling : str
        ``cls_dist`` (mean of the cls and distillation tokens, the
        reference), ``cls``, ``mean`` (of the patch tokens), or, for a
        ``DistillationHead`` (``[batch, 2, dim]``), ``cls_dist_pair`` (the
        cls and distillation tokens) or ``mean_dist_pair`` (the patch mean
        and the distillation token), or, for a ``FrameLevelHead``,
        ``time_steps`` (the patch tokens averaged over the frequency rows,
        ``[batch, time steps, dim]``), or, for a ``BlockWeightedHead``,
        ``blocks_cls_dist``, ``blocks_cls`` or ``blocks_mean``: that
        pooling of every block's tokens, each through the final norm
        (``[batch, depth, dim]``; the last row is the pooling without the
        prefix).
    output_all_tokens : bool
        Return every token instead of the pooled vector.
    layer_norm_eps : float
        LayerNorm epsilon in the blocks (1e-6 in the reference).
    drop_path : float
        Stochastic depth rate (0 in the reference).
    patchout_time : int
        Patchout (PaSST, Koutini et al. 2022), training only: time columns
        of patches dropped at random per batch (PaSST: 40 of 99 at 1024
        frames).
    patchout_freq : int
        Frequency rows of patches dropped per batch (PaSST: 4 of 12).
    patchout_patches : int
        Further patches dropped at random per batch (unstructured).
    model_size : str or None
        The named DeiT size (``MODEL_SIZES``: ``tiny224``, ``small224``,
        ``base224``, ``base384``) these dimensions come from, or None for
        a custom ``embed_dim`` and ``num_heads`` (it picks the ImageNet
        weights of ``imagenet_weights=True``; ``from_size`` sets the
        dimensions from it).

    Example
    -------
    >>> config = AudioSpectrogramTransformerConfig.from_size(
    ...     "base384", target_length=512)
    >>> config.embed_dim, config.num_heads, config.grid
    (768, 12, (12, 50))
    """

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    input_fdim: int = 128
    target_length: int = 1024
    fstride: int = 10
    tstride: int = 10
    patch_size: tuple = (16, 16)
    stem_channels: int = 0
    stem_kind: str = "image"
    image_stem_channels: int = 0
    image_stem_bands: int = 0
    image_stem_stride: int = 1
    stem_layers: int = 2
    stem_norm: str = "none"
    pooling: str = "cls_dist"
    output_all_tokens: bool = False
    layer_norm_eps: float = 1e-6
    drop_path: float = 0.0
    patchout_time: int = 0
    patchout_freq: int = 0
    patchout_patches: int = 0
    model_size: str = None

    def __post_init__(self):
        patch = self.patch_size
        if isinstance(patch, int):
            patch = (patch, patch)
        object.__setattr__(self, "patch_size", tuple(int(p) for p in patch))
        for name in ("fstride", "tstride", "image_stem_stride"):
            stride = getattr(self, name)
            if isinstance(stride, bool) or not isinstance(
                stride, numbers.Integral
            ):
                raise ModelSettingError(
                    f"{name} must be a whole number of bins or frames, "
                    f"not {stride!r}"
                )
        if self.pooling not in POOLING_MODES:
            raise ModelSettingError(
                f"Unknown pooling {self.pooling!r}; expected one of "
                f"{POOLING_MODES}"
            )
        if self.stem_kind not in STEM_KINDS:
            raise ModelSettingError(
                f"Unknown stem_kind {self.stem_kind!r}; expected one of "
                f"{STEM_KINDS}"
            )
        if self.stem_norm not in STEM_NORMS:
            raise ModelSettingError(
                f"Unknown stem_norm {self.stem_norm!r}; expected one of "
                f"{STEM_NORMS}"
            )
        if self.stem_layers < 1:
            raise ModelSettingError(
                f"stem_layers must be at least 1, not {self.stem_layers}"
            )
        both = bool(self.stem_channels) and self.stem_kind == "time_image"
        if not both:  # read by a time_image stem only, as 0 in an export
            object.__setattr__(self, "image_stem_channels", 0)
            object.__setattr__(self, "image_stem_bands", 0)
            object.__setattr__(self, "image_stem_stride", 1)
        if both and not self.image_stem_channels:
            raise ModelSettingError(
                "stem_kind 'time_image' needs image_stem_channels (the "
                "channels of its image stem) above 0"
            )
        if self.image_stem_stride < 1 or (
            self.input_fdim % self.image_stem_stride
        ):
            raise ModelSettingError(
                f"image_stem_stride {self.image_stem_stride} does not "
                f"divide the {self.input_fdim} mel bins"
            )
        rows = self.input_fdim // self.image_stem_stride
        if self.image_stem_bands and rows % self.image_stem_bands:
            raise ModelSettingError(
                f"image_stem_bands {self.image_stem_bands} does not divide "
                f"the {rows} mel rows of the image stem into bands of "
                f"equal width"
            )
        whole_mel_axis = (self.input_fdim, self.input_fdim)
        if (
            self.stem_channels
            and self.stem_kind in TIME_STEM_KINDS
            and (self.patch_size[0], self.fstride) != whole_mel_axis
        ):
            raise ModelSettingError(
                f"stem_kind {self.stem_kind!r} reads every mel bin of a "
                f"frame: set "
                f"patch_size [{self.input_fdim}, t] and fstride "
                f"{self.input_fdim} (got patch_size "
                f"{list(self.patch_size)}, fstride {self.fstride})"
            )
        if self.embed_dim % self.num_heads:
            raise ModelSettingError(
                f"embed_dim {self.embed_dim} is not divisible by "
                f"num_heads {self.num_heads}"
            )
        patch_grid_size(
            self.target_length,
            self.input_fdim,
            self.patch_size,
            self.fstride,
            self.tstride,
        )

    @classmethod
    def from_size(cls, model_size="base384", **fields):
        """A config from a named size, with any field overridden.

        Arguments
        ---------
        model_size : str or None
            ``tiny224``, ``small224``, ``base224``, ``base384``; or None,
            with ``embed_dim`` and ``num_heads`` among ``fields``.
        **fields : dict
            Other fields; None values are ignored (as YAML nulls).

        Returns
        -------
        AudioSpectrogramTransformerConfig
        """
        fields = renamed_fields(fields)
        fields = {k: v for k, v in fields.items() if v is not None}
        if model_size is not None:
            if model_size not in MODEL_SIZES:
                raise ModelSettingError(
                    f"Unknown model_size {model_size!r}; expected one of "
                    f"{sorted(MODEL_SIZES)} or None with embed_dim set"
                )
            size = MODEL_SIZES[model_size]
            fields.setdefault("embed_dim", size.embed_dim)
            fields.setdefault("num_heads", size.num_heads)
        elif "embed_dim" not in fields or "num_heads" not in fields:
            raise ModelSettingError(
                "A custom size needs embed_dim and num_heads"
            )
        check_field_names(fields)
        return cls(model_size=model_size, **fields)

    @property
    def grid(self):
        """Patch grid ``(f_dim, t_dim)`` of the position embedding."""
        return patch_grid_size(
            self.target_length,
            self.input_fdim,
            self.patch_size,
            self.fstride,
            self.tstride,
        )

    def replace(self, **changes):
        """A copy with some fields changed (None values are ignored)."""
        changes = renamed_fields(changes)
        changes = {k: v for k, v in changes.items() if v is not None}
        check_field_names(changes)
        return dataclasses.replace(self, **changes)

    def as_dict(self):
        """Plain fields (lists for tuples), as written to YAML.

        Example
        -------
        >>> AudioSpectrogramTransformerConfig().as_dict()["patch_size"]
        [16, 16]
        """
        values = dataclasses.asdict(self)
        values["patch_size"] = list(self.patch_size)
        return values


def check_field_names(fields):
    """Refuses names that are not fields of the config (TypeError)."""
    known = {
        f.name for f in dataclasses.fields(AudioSpectrogramTransformerConfig)
    }
    unknown = set(fields) - known
    if unknown:
        raise TypeError(
            f"Unknown AudioSpectrogramTransformer settings: "
            f"{', '.join(sorted(unknown))}"
        )
