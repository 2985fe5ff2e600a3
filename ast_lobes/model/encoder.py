"""The Audio Spectrogram Transformer encoder as a SpeechBrain lobe.

Gong, Chung & Glass, "AST: Audio Spectrogram Transformer", Interspeech 2021.
The transformer blocks are timm's (fused scaled-dot-product attention); the
parameter names follow timm's ViT so that ImageNet DeiT weights and the
reference AST checkpoints map onto them directly.

Authors
 * AST-SpeechBrain contributors 2026
"""

from functools import partial

import torch
from timm.models.vision_transformer import Block
from torch import nn

from ast_lobes.compat.aliases import renamed_attribute
from ast_lobes.model.config import (
    BLOCK_POOLINGS,
    TIME_STEM_KINDS,
    AudioSpectrogramTransformerConfig,
    patch_grid_size,
)
from ast_lobes.model.position import (
    grid_to_tokens,
    resize_position_grid,
    tokens_to_grid,
)

# A padded clip's frames are zeroed after every stem part but these
CONVOLUTIONS = (nn.Conv1d, nn.Conv2d)
# Arguments of pretrained_encoder, which builds an encoder and loads weights
WEIGHT_ARGUMENTS = {
    "imagenet_weights", "audioset_weights", "ssast_weights",
    "position_resize_mode",
}  # fmt: skip


def encoder_config(config=None, fields=None):
    """The ``AudioSpectrogramTransformerConfig`` an encoder is built from:
    ``config`` (or the size it names) with ``fields`` changed.

    Example
    -------
    >>> encoder_config("tiny224", {"depth": 2}).embed_dim
    192
    >>> encoder_config(None, {"depth": 2}).model_size
    'base384'
    """
    fields = dict(fields or {})
    weights = sorted(WEIGHT_ARGUMENTS & set(fields))
    if weights:
        raise TypeError(
            f"AudioSpectrogramTransformer got {', '.join(weights)}: the "
            "encoder only builds; weights are loaded by "
            "ast_lobes.pretrained_encoder (YAML: replace "
            "'!new:ast_lobes.AudioSpectrogramTransformer' with "
            "'!apply:ast_lobes.pretrained_encoder', same arguments)"
        )
    if isinstance(config, str) or config is None:
        if config is not None and "model_size" in fields:
            raise TypeError(
                f"AudioSpectrogramTransformer got the size {config!r} twice "
                "(as config and model_size)"
            )
        if config is not None:
            fields["model_size"] = config
        return AudioSpectrogramTransformerConfig.from_size(**fields)
    if "model_size" in fields:
        raise TypeError(
            "AudioSpectrogramTransformer: a config and a model_size; give "
            "the size in the config (AudioSpectrogramTransformerConfig."
            "from_size)"
        )
    return config.replace(**fields)


def config_field(name):
    """A read-only attribute of the encoder that is ``config.<name>``."""
    return property(
        lambda self: getattr(self.config, name),
        doc=f"``config.{name}`` (``AudioSpectrogramTransformerConfig``).",
    )


class AudioSpectrogramTransformer(nn.Module):
    """Audio Spectrogram Transformer (AST) encoder.

    Input fbank features ``[batch, time, mel]``; output the pooled embedding
    ``[batch, 1, dim]`` (as every SpeechBrain classifier encoder) or, with
    ``output_all_tokens=True``, all tokens ``[batch, 2 + patches, dim]``
    (cls, distillation, then the patches frequency-major).

    Any input length works: when the patch grid of the input differs from the
    one the model was built for, the position embedding is adapted on the
    fly. A shorter time axis takes the leading positions (the ones a clip
    padded at its end used in training); a longer one is interpolated.

    The module only builds (random weights, timm's initialisation). To start
    from published AST or ImageNet weights use ``ast_lobes.pretrained_encoder``
    (in YAML: ``!apply:ast_lobes.pretrained_encoder``).

    Arguments
    ---------
    config : AudioSpectrogramTransformerConfig, str or None
        The architecture; a size name (``base384``...) stands for
        ``AudioSpectrogramTransformerConfig.from_size(name)``; None for
        ``base384``.
    **fields : dict
        Fields of ``AudioSpectrogramTransformerConfig`` (documented there),
        changing those of ``config``; without a config, ``model_size``
        (default ``base384``) gives ``embed_dim`` and ``num_heads`` unless
        they are among them. This is the form YAML uses::

            embedding_model: !new:ast_lobes.AudioSpectrogramTransformer
              model_size: base384
              target_length: 1024

    Example
    -------
    >>> config = AudioSpectrogramTransformerConfig.from_size(
    ...     None, embed_dim=64, depth=2, num_heads=4, target_length=128)
    >>> encoder = AudioSpectrogramTransformer(config)
    >>> fbank = torch.randn(3, 128, 128)
    >>> encoder(fbank).shape
    torch.Size([3, 1, 64])
    >>> encoder(torch.randn(2, 300, 128)).shape
    torch.Size([2, 1, 64])
    >>> AudioSpectrogramTransformer(
    ...     model_size=None, embed_dim=64, depth=2, num_heads=4,
    ...     target_length=128).config == config
    True
    """

    def __init__(self, config=None, **fields):
        super().__init__()
        self.config = config = encoder_config(config, fields)
        embed_dim = config.embed_dim

        self.patch_embed = nn.Module()
        channels = config.stem_channels
        kernel = config.patch_size
        stride = (config.fstride, config.tstride)
        if channels and config.stem_kind in TIME_STEM_KINDS:
            self.patch_embed.stem = build_stem(config, "time", channels)
            self.patch_embed.proj = nn.Conv2d(
                channels, embed_dim, (1, kernel[1]), stride=(1, stride[1])
            )
        else:
            if channels:
                self.patch_embed.stem = build_stem(config, "image", channels)
            self.patch_embed.proj = nn.Conv2d(
                channels or 1, embed_dim, kernel_size=kernel, stride=stride
            )
        image_channels = config.image_stem_channels  # 0 unless time_image
        if image_channels:
            self.patch_embed.image_stem = build_stem(
                config, "image", image_channels, config.image_stem_stride
            )
            stem_rows = config.input_fdim // config.image_stem_stride
            rows = config.image_stem_bands or stem_rows
            width = stem_rows // rows
            self.patch_embed.image_pool = (
                BandMean(width) if width > 1 else nn.Identity()
            )
            self.patch_embed.image_proj = nn.Conv2d(
                image_channels, embed_dim, (rows, kernel[1]), (rows, stride[1])
            )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        n_patches = self.grid[0] * self.grid[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, n_patches + 2, embed_dim))
        drop_rates = torch.linspace(
            0, config.drop_path, config.depth, device="cpu"
        ).tolist()
        self.blocks = nn.ModuleList(
            Block(
                dim=embed_dim,
                num_heads=config.num_heads,
                mlp_ratio=config.mlp_ratio,
                qkv_bias=True,
                drop_path=rate,
                norm_layer=partial(nn.LayerNorm, eps=config.layer_norm_eps),
            )
            for rate in drop_rates
        )
        self.norm = nn.LayerNorm(embed_dim, eps=config.layer_norm_eps)
        self.reset_parameters()

    @classmethod
    def from_config(cls, config):
        """Builds an encoder from an ``AudioSpectrogramTransformerConfig``
        (the same as ``cls(config)``)."""
        return cls(config)

    # Fields of the config that the readers, exporters and heads read
    # from an encoder (documented in AudioSpectrogramTransformerConfig).
    model_size = config_field("model_size")
    embed_dim = config_field("embed_dim")
    input_fdim = config_field("input_fdim")
    target_length = config_field("target_length")
    patch_size = config_field("patch_size")
    fstride = config_field("fstride")
    tstride = config_field("tstride")
    pooling = config_field("pooling")
    output_all_tokens = config_field("output_all_tokens")
    grid = config_field("grid")

    @property
    def input_tdim(self):
        """``target_length``'s old name (``ast_lobes.compat``)."""
        renamed_attribute("input_tdim", "AudioSpectrogramTransformer")
        return self.target_length

    @property
    def patchout(self):
        """``(time columns, frequency rows, patches)`` dropped in training."""
        c = self.config
        return (c.patchout_time, c.patchout_freq, c.patchout_patches)

    def reset_parameters(self):
        """Initialises the weights as timm's ViT does (truncated normal)."""
        for param in (self.pos_embed, self.cls_token, self.dist_token):
            nn.init.trunc_normal_(param, std=0.02)
        for module in self.blocks.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    @property
    def num_patches(self):
        """Patch tokens of the grid the model was built for."""
        return self.grid[0] * self.grid[1]

    def patch_grid(self, n_frames, n_mels):
        """Patch grid ``(f_dim, t_dim)`` of an input of this shape."""
        return patch_grid_size(
            n_frames, n_mels, self.patch_size, self.fstride, self.tstride
        )

    def patch_position_embedding(self, f_dim, t_dim):
        """Position embedding of the patch tokens for a ``f x t`` grid.

        Arguments
        ---------
        f_dim : int
            Frequency patches of the input.
        t_dim : int
            Time patches of the input.

        Returns
        -------
        torch.Tensor
            ``[1, f_dim * t_dim, dim]``.
        """
        grid = tokens_to_grid(self.pos_embed[:, 2:], *self.grid)
        if t_dim <= self.grid[1]:  # one branch for every length up to T
            grid = grid[:, :, :, :t_dim]
        grid = resize_position_grid(grid, f_dim, t_dim)
        return grid_to_tokens(grid)

    def embed(self, x, masked=None, mask_embed=None, lengths=None):
        """Patch tokens with cls/dist tokens and position embeddings.

        Arguments
        ---------
        x : torch.Tensor
            Fbank ``[batch, time, mel]``.
        masked : torch.Tensor or None
            Boolean ``[batch, patches]``: patches whose embedding is
            replaced by ``mask_embed`` before the position embedding is
            added (masked patch modelling, SSAST).
        mask_embed : torch.Tensor or None
            ``[1, 1, dim]``, the learned mask embedding.
        lengths : torch.Tensor or None
            Relative lengths ``[batch]``: a stem then sees a padded clip's
            frames as it sees the clip alone (see ``stem_image``).

        Returns
        -------
        tokens : torch.Tensor
            ``[batch, 2 + patches, dim]``.
        grid : tuple
            ``(f_dim, t_dim)`` of the input.
        """
        if x.dim() != 3:
            raise ValueError(
                f"Expected fbank features [batch, time, mel], got shape "
                f"{tuple(x.shape)}"
            )
        grid = self.patch_grid(x.shape[1], x.shape[2])
        patches = self.patch_embed.proj(self.stem_image(x, lengths))
        if self.config.image_stem_channels:
            image = self.stem_image(x, lengths, image_stem=True)
            image = self.patch_embed.image_pool(image)
            patches = patches + self.patch_embed.image_proj(image)
        patches = patches.flatten(2).transpose(1, 2)
        if masked is not None:
            patches = torch.where(
                masked.unsqueeze(-1), mask_embed.to(patches.dtype), patches
            )
        patches = patches + self.patch_position_embedding(*grid)
        batch = x.shape[0]
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(batch, -1, -1)
        dist = (self.dist_token + self.pos_embed[:, 1:2]).expand(batch, -1, -1)
        return torch.cat((cls, dist, patches), dim=1), grid

    def stem_image(self, x, lengths=None, image_stem=False):
        """What the patch projection reads: the fbank ``[batch, time,
        mel]`` as an image ``[batch, 1, mel, time]``, or the stem's
        channels over it (``[batch, channels, mel, time]``; ``[batch,
        channels, 1, time]`` for a time stem). With relative ``lengths``
        a padded clip's frames past its end are zero before and after
        each stem layer, as the layers' zero padding shows the clip
        alone. ``image_stem``: the image stem of a ``time_image`` stem
        (what ``image_proj`` reads) instead."""
        if not self.config.stem_channels:
            return x.transpose(1, 2).unsqueeze(1)
        stem = self.patch_embed.stem
        time_stem = self.config.stem_kind in TIME_STEM_KINDS
        if image_stem:
            stem, time_stem = self.patch_embed.image_stem, False
        image = x.transpose(1, 2) if time_stem else x.transpose(1, 2)[:, None]
        valid = None
        if lengths is not None and bool((lengths < 1).any()):
            frames = self.valid_frames(lengths.to(x.device), x.shape[1])
            steps = torch.arange(x.shape[1], device=x.device)
            valid = (steps < frames[:, None]).to(image.dtype)
            valid = valid.view(len(x), *[1] * (image.dim() - 2), x.shape[1])
            image = image * valid
        for layer in stem:
            image = run_stem_layer(layer, image)
            if valid is not None and not isinstance(layer, CONVOLUTIONS):
                image = image * valid
        return image.unsqueeze(2) if time_stem else image

    @staticmethod
    def valid_frames(lengths, n_frames):
        """Each clip's frames ``[batch]`` (float) in a padded batch of
        ``n_frames``, from SpeechBrain's relative ``lengths``."""
        return torch.round(lengths * n_frames)

    def padding_mask(self, lengths, n_frames, grid):
        """Which tokens hold signal, from SpeechBrain's relative lengths.

        A patch counts as signal when it lies wholly inside the valid frames
        (the first patch always does), so a padded clip sees the same
        patches as the clip alone.

        Arguments
        ---------
        lengths : torch.Tensor
            Relative lengths ``[batch]`` in (0, 1].
        n_frames : int
            Frames of the padded batch.
        grid : tuple
            ``(f_dim, t_dim)`` of the input.

        Returns
        -------
        torch.Tensor
            Boolean ``[batch, 2 + patches]``; True where a token is kept.
        """
        f_dim, t_dim = grid
        valid_frames = self.valid_frames(lengths, n_frames)
        ends = torch.arange(t_dim, device=lengths.device) * self.tstride
        ends = ends + self.patch_size[1]
        time_valid = ends.unsqueeze(0) <= valid_frames.unsqueeze(1)
        time_valid[:, 0] = True
        patch_valid = time_valid.unsqueeze(1).expand(-1, f_dim, -1)
        special = torch.ones(
            lengths.shape[0], 2, dtype=torch.bool, device=lengths.device
        )
        return torch.cat((special, patch_valid.flatten(1)), dim=1)

    def forward(self, x, lengths=None, all_tokens=False):
        """Encodes a batch of fbank features.

        Arguments
        ---------
        x : torch.Tensor
            Fbank ``[batch, time, mel]``.
        lengths : torch.Tensor or None
            Relative lengths ``[batch]``; padded patches are then left out of
            attention and of mean pooling.
        all_tokens : bool
            Every token, as with ``output_all_tokens``, for this call.

        Returns
        -------
        torch.Tensor
            ``[batch, 1, dim]``, or ``[batch, 2 + patches, dim]`` with
            ``output_all_tokens``, in the weights' dtype (for another
            precision, ``ast_lobes.set_inference_precision`` wraps it).
        """
        tokens, grid = self.embed(x, lengths=lengths)
        keep = None
        attn_mask = None
        if lengths is not None and bool((lengths < 1).any()):
            keep = self.padding_mask(lengths.to(x.device), x.shape[1], grid)
        if self.training and any(self.patchout):
            kept = self.patchout_index(grid, tokens.device)
            tokens = tokens[:, kept]
            keep = None if keep is None else keep[:, kept]
        if keep is not None:
            attn_mask = keep[:, None, None, :]
        if self.pooling in BLOCK_POOLINGS and not (
            self.output_all_tokens or all_tokens
        ):
            return self.pooled_blocks(tokens, attn_mask, keep)
        tokens = self.transform(tokens, attn_mask)
        if self.output_all_tokens or all_tokens:
            return tokens
        if (
            self.training
            and self.pooling == "time_steps"
            and any(self.patchout)
        ):
            raise ValueError(
                "time_steps pooling needs every patch: turn patchout off"
            )
        return self.pool_tokens(tokens, grid, keep)

    def pool_tokens(self, tokens, grid, keep=None):
        """The pooled output of encoded tokens ``[batch, 2 + patches,
        dim]`` of a ``grid`` (``keep``: ``padding_mask``, or each token's
        weight in the patch mean, as merged tokens have), as ``forward``
        gives it: ``[batch, 1, dim]``, ``[batch, 2, dim]`` for the pair
        poolings or ``[batch, time steps, dim]`` for ``time_steps``."""
        if self.pooling in BLOCK_POOLINGS:
            raise ValueError(
                f"pooling {self.pooling!r} pools every block's tokens; the "
                "last block's tokens alone cannot give it"
            )
        if self.pooling == "time_steps":
            patches = tokens[:, 2:].reshape(len(tokens), *grid, -1)
            return patches.mean(dim=1)
        if self.pooling == "cls_dist_pair":
            return tokens[:, :2]
        if self.pooling == "mean_dist_pair":
            mean = self.pool(tokens, keep, "mean")
            return torch.stack((mean, tokens[:, 1]), dim=1)
        return self.pool(tokens, keep).unsqueeze(1)

    @property
    def block_pooling(self):
        """The one-vector pooling of each block's tokens: ``mean`` for
        ``blocks_mean``, and ``pooling`` itself for the others."""
        if self.pooling in BLOCK_POOLINGS:
            return self.pooling[len("blocks_") :]
        return self.pooling

    def pooled_blocks(self, tokens, attn_mask=None, keep=None, first=0):
        """Each block's tokens through the final norm, pooled
        (``block_pooling``): ``[batch, depth - first, dim]`` of embedded
        tokens entering block ``first``; the last row is the one-vector
        pooling of the encoder's output."""
        rows = []
        for block in self.blocks[first:]:
            tokens = block(tokens, attn_mask=attn_mask)
            rows.append(self.pool(self.norm(tokens), keep, self.block_pooling))
        return torch.stack(rows, dim=1)

    def transform(self, tokens, attn_mask=None):
        """The transformer blocks and the final norm over embedded
        tokens ``[batch, tokens, dim]``."""
        for block in self.blocks:
            tokens = block(tokens, attn_mask=attn_mask)
        return self.norm(tokens)

    def patchout_index(self, grid, device):
        """Token indices kept by patchout (cls and dist always kept).

        Drops ``patchout_time`` random time columns and ``patchout_freq``
        random frequency rows of the patch grid, then ``patchout_patches``
        random patches of the rest; the same for the whole batch, so the
        batch stays one tensor. At least one patch is always kept.
        """
        f_dim, t_dim = grid
        drop_time, drop_freq, drop_patches = self.patchout
        time_kept = torch.randperm(t_dim, device=device)[
            : max(1, t_dim - drop_time)
        ]
        freq_kept = torch.randperm(f_dim, device=device)[
            : max(1, f_dim - drop_freq)
        ]
        patches = (freq_kept[:, None] * t_dim + time_kept[None, :]).flatten()
        if drop_patches:
            order = torch.randperm(patches.numel(), device=device)
            patches = patches[order[: max(1, patches.numel() - drop_patches)]]
        patches = patches.sort().values
        special = torch.arange(2, device=device)
        return torch.cat((special, patches + 2))

    def pool(self, tokens, keep=None, pooling=None):
        """Pools the encoded tokens into one vector per clip (``keep``:
        the tokens' weights in the patch mean, a mask or counts)."""
        return pool_vector(tokens, pooling or self.pooling, keep)


def pool_vector(tokens, pooling, keep=None):
    """One vector per clip ``[batch, dim]`` of encoded tokens ``[batch, 2
    + patches, dim]``: ``cls_dist`` (the mean of the cls and distillation
    tokens), ``cls`` or ``mean`` (of the patches; ``keep``: the tokens'
    weights in it, a mask or counts).

    Example
    -------
    >>> tokens = torch.arange(8.0).reshape(1, 4, 2)
    >>> pool_vector(tokens, "cls_dist"), pool_vector(tokens, "mean")
    (tensor([[1., 2.]]), tensor([[5., 6.]]))
    """
    if pooling == "cls_dist":
        return (tokens[:, 0] + tokens[:, 1]) / 2
    if pooling == "cls":
        return tokens[:, 0]
    patches = tokens[:, 2:]
    if keep is None:
        return patches.mean(dim=1)
    weights = keep[:, 2:].unsqueeze(-1).to(patches.dtype)
    return (patches * weights).sum(dim=1) / weights.sum(dim=1)


class BandMean(nn.Module):
    """The mean of every ``width`` mel rows of an image ``[batch,
    channels, mel, time]`` (rows past the last whole band dropped):
    ``nn.AvgPool2d((width, 1))``'s values, as a reshape and a mean, about
    four times faster in training on a CPU (PyTorch's pooling kernels,
    forward and backward, are not vectorised over so narrow a window;
    ``benchmarks/audiofolder/LOG.md``, 14). No weights: a checkpoint of either
    loads into the other.

    Example
    -------
    >>> image = torch.randn(2, 8, 128, 50)
    >>> pooled = BandMean(16)(image)
    >>> pooled.shape
    torch.Size([2, 8, 8, 50])
    >>> torch.allclose(pooled, nn.AvgPool2d((16, 1))(image), atol=1e-6)
    True
    """

    def __init__(self, width):
        super().__init__()
        self.width = int(width)

    def forward(self, image):
        """``[batch, channels, mel // width, time]``."""
        bands = image.shape[2] // self.width
        whole = image[:, :, : bands * self.width]
        return whole.unflatten(2, (bands, self.width)).mean(dim=3)


def run_stem_layer(layer, image):
    """``layer(image)``. In training on a CPU (gradients on), a 2-D
    convolution of several input channels reads and writes its image
    channels-last, the same values in the same layout out: oneDNN's
    backward pass of such few-channel convolutions is about twice as fast
    channels-last; a forward pass alone is not, and a GPU was not
    measured (``benchmarks/bench_cpu_step.py``).

    Example
    -------
    >>> conv = nn.Conv2d(8, 8, 3, padding=1)
    >>> image = torch.randn(2, 8, 16, 10)
    >>> torch.allclose(run_stem_layer(conv, image), conv(image))
    True
    """
    several_channels = isinstance(layer, nn.Conv2d) and layer.in_channels > 1
    on_cpu = image.device.type == "cpu"
    if several_channels and on_cpu and torch.is_grad_enabled():
        image = image.contiguous(memory_format=torch.channels_last)
        return layer(image).contiguous()
    return layer(image)


def build_stem(config, kind, channels, mel_stride=1):
    """The convolutions of a stem of ``kind`` (``time`` or ``image``, as
    ``AudioSpectrogramTransformerConfig`` describes them) with
    ``channels`` channels, each followed by a GELU (and a BatchNorm when
    ``config.stem_norm`` is ``batch``); an image stem's first
    convolution steps ``mel_stride`` mel bins.

    Example
    -------
    >>> config = AudioSpectrogramTransformerConfig.from_size(
    ...     None, embed_dim=64, num_heads=4, stem_channels=8,
    ...     stem_norm="batch")
    >>> [type(part).__name__ for part in build_stem(config, "image", 8)]
    ['Conv2d', 'GELU', 'BatchNorm2d', 'Conv2d', 'GELU', 'BatchNorm2d']
    """
    if kind == "time":
        norm = nn.BatchNorm1d
        layers = [nn.Conv1d(config.input_fdim, channels, 5, padding=2)]
        layers += [
            nn.Conv1d(channels, channels, 3, padding=d, dilation=d)
            for d in range(2, config.stem_layers + 1)
        ]
    else:
        norm = nn.BatchNorm2d
        layers = [nn.Conv2d(1, channels, 3, (mel_stride, 1), padding=1)]
        layers += [
            nn.Conv2d(channels, channels, 3, padding=1)
            for _ in range(config.stem_layers - 1)
        ]
    parts = []
    for conv in layers:
        parts += [conv, nn.GELU()]
        if config.stem_norm == "batch":
            parts.append(norm(channels))
    return nn.Sequential(*parts)
