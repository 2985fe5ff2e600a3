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

from ast_lobes.position import (
    grid_to_tokens,
    resize_position_grid,
    tokens_to_grid,
)

# name: (embedding dim, heads, ImageNet DeiT grid side, timm model name)
MODEL_SIZES = {
    "tiny224": (192, 3, 14, "deit_tiny_distilled_patch16_224"),
    "small224": (384, 6, 14, "deit_small_distilled_patch16_224"),
    "base224": (768, 12, 14, "deit_base_distilled_patch16_224"),
    "base384": (768, 12, 24, "deit_base_distilled_patch16_384"),
}
POOLING_MODES = ("cls_dist", "cls", "mean")


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

    Arguments
    ---------
    model_size : str or None
        One of ``tiny224``, ``small224``, ``base224``, ``base384``; or None
        for custom ``embed_dim``, ``depth`` and ``num_heads``.
    input_fdim : int
        Mel bins the model is built for.
    input_tdim : int
        Frames the model is built for (the position-embedding grid).
    fstride : int
        Patch stride along frequency (10 in the paper: 6 bins overlap).
    tstride : int
        Patch stride along time.
    patch_size : int or tuple
        Patch extent; a tuple is ``(frequency, time)``, e.g. ``(128, 2)``.
    embed_dim : int or None
        Overrides the size's embedding dimension.
    depth : int
        Number of transformer blocks.
    num_heads : int or None
        Overrides the size's number of heads.
    mlp_ratio : float
        Hidden size of the block MLP relative to ``embed_dim``.
    pooling : str
        ``cls_dist`` (mean of the cls and distillation tokens, the
        reference), ``cls``, or ``mean`` (of the patch tokens).
    output_all_tokens : bool
        Return every token instead of the pooled vector.
    layer_norm_eps : float
        LayerNorm epsilon in the blocks (1e-6 in the reference).
    drop_path : float
        Stochastic depth rate (0 in the reference).
    imagenet_weights : str, bool or None
        Initialise from ImageNet ViT/DeiT weights: True for the size's DeiT,
        a timm model name, or a local ``.pth``/``.safetensors`` file.
    audioset_weights : str or None
        Initialise the encoder from a published AST checkpoint (see
        ``ast_lobes.load_ast_checkpoint`` for the accepted sources).
    position_resize_mode : str
        How pretrained position embeddings are resized when loading:
        ``bilinear`` (paper), ``nearest``, or ``reinit`` (random).
    patchout_time : int
        Patchout (PaSST, Koutini et al. 2022), training only: time columns
        of patches dropped at random per batch (PaSST: 40 of 99 at 1024
        frames).
    patchout_freq : int
        Frequency rows of patches dropped per batch (PaSST: 4 of 12).
    patchout_patches : int
        Further patches dropped at random per batch (unstructured).

    Example
    -------
    >>> encoder = AudioSpectrogramTransformer(
    ...     model_size=None, embed_dim=64, depth=2, num_heads=4,
    ...     input_tdim=128)
    >>> fbank = torch.randn(3, 128, 128)
    >>> encoder(fbank).shape
    torch.Size([3, 1, 64])
    >>> encoder(torch.randn(2, 300, 128)).shape
    torch.Size([2, 1, 64])
    """

    def __init__(
        self,
        model_size="base384",
        input_fdim=128,
        input_tdim=1024,
        fstride=10,
        tstride=10,
        patch_size=16,
        embed_dim=None,
        depth=12,
        num_heads=None,
        mlp_ratio=4.0,
        pooling="cls_dist",
        output_all_tokens=False,
        layer_norm_eps=1e-6,
        drop_path=0.0,
        imagenet_weights=None,
        audioset_weights=None,
        position_resize_mode="bilinear",
        patchout_time=0,
        patchout_freq=0,
        patchout_patches=0,
    ):
        super().__init__()
        if model_size is not None:
            if model_size not in MODEL_SIZES:
                raise ValueError(
                    f"Unknown model_size {model_size!r}; expected one of "
                    f"{sorted(MODEL_SIZES)} or None with embed_dim set"
                )
            size_dim, size_heads, _, _ = MODEL_SIZES[model_size]
            embed_dim = embed_dim or size_dim
            num_heads = num_heads or size_heads
        if embed_dim is None or num_heads is None:
            raise ValueError("A custom size needs embed_dim and num_heads")
        if pooling not in POOLING_MODES:
            raise ValueError(
                f"Unknown pooling {pooling!r}; expected one of {POOLING_MODES}"
            )
        if isinstance(patch_size, int):
            patch_size = (patch_size, patch_size)
        self.config = dict(
            model_size=None,
            input_fdim=input_fdim,
            input_tdim=input_tdim,
            fstride=fstride,
            tstride=tstride,
            patch_size=list(patch_size),
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            pooling=pooling,
            output_all_tokens=output_all_tokens,
            layer_norm_eps=layer_norm_eps,
        )
        self.model_size = model_size
        self.embed_dim = embed_dim
        self.patch_size = tuple(patch_size)
        self.fstride = fstride
        self.tstride = tstride
        self.input_fdim = input_fdim
        self.input_tdim = input_tdim
        self.pooling = pooling
        self.output_all_tokens = output_all_tokens
        self.patchout = (patchout_time, patchout_freq, patchout_patches)
        self.inference_precision = "fp32"
        self.grid = patch_grid_size(
            input_tdim, input_fdim, self.patch_size, fstride, tstride
        )

        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(
            1,
            embed_dim,
            kernel_size=self.patch_size,
            stride=(fstride, tstride),
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        n_patches = self.grid[0] * self.grid[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, n_patches + 2, embed_dim))
        drop_rates = torch.linspace(0, drop_path, depth).tolist()
        self.blocks = nn.ModuleList(
            Block(
                dim=embed_dim,
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=True,
                drop_path=rate,
                norm_layer=partial(nn.LayerNorm, eps=layer_norm_eps),
            )
            for rate in drop_rates
        )
        self.norm = nn.LayerNorm(embed_dim, eps=layer_norm_eps)
        self.reset_parameters()

        if imagenet_weights and audioset_weights:
            raise ValueError(
                "Give imagenet_weights or audioset_weights, not both"
            )
        if imagenet_weights:
            from ast_lobes.imagenet import load_imagenet_weights

            load_imagenet_weights(self, imagenet_weights, position_resize_mode)
        if audioset_weights:
            from ast_lobes.checkpoints import load_ast_encoder_weights

            load_ast_encoder_weights(
                self, audioset_weights, position_resize_mode
            )

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

    def embed(self, x):
        """Patch tokens with cls/dist tokens and position embeddings.

        Arguments
        ---------
        x : torch.Tensor
            Fbank ``[batch, time, mel]``.

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
        patches = self.patch_embed.proj(x.transpose(1, 2).unsqueeze(1))
        patches = patches.flatten(2).transpose(1, 2)
        patches = patches + self.patch_position_embedding(*grid)
        batch = x.shape[0]
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(batch, -1, -1)
        dist = (self.dist_token + self.pos_embed[:, 1:2]).expand(batch, -1, -1)
        return torch.cat((cls, dist, patches), dim=1), grid

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
        valid_frames = torch.round(lengths * n_frames)
        ends = torch.arange(t_dim, device=lengths.device) * self.tstride
        ends = ends + self.patch_size[1]
        time_valid = ends.unsqueeze(0) <= valid_frames.unsqueeze(1)
        time_valid[:, 0] = True
        patch_valid = time_valid.unsqueeze(1).expand(-1, f_dim, -1)
        special = torch.ones(
            lengths.shape[0], 2, dtype=torch.bool, device=lengths.device
        )
        return torch.cat((special, patch_valid.flatten(1)), dim=1)

    def forward(self, x, lengths=None):
        """Encodes a batch of fbank features.

        Arguments
        ---------
        x : torch.Tensor
            Fbank ``[batch, time, mel]``.
        lengths : torch.Tensor or None
            Relative lengths ``[batch]``; padded patches are then left out of
            attention and of mean pooling.

        Returns
        -------
        torch.Tensor
            ``[batch, 1, dim]``, or ``[batch, 2 + patches, dim]`` with
            ``output_all_tokens``, in the dtype of ``x`` whatever the
            inference precision (see ``ast_lobes.set_inference_precision``).
        """
        if self.inference_precision == "bf16-autocast":
            with torch.autocast(x.device.type, dtype=torch.bfloat16):
                return self.encode(x, lengths).to(x.dtype)
        weight_dtype = self.patch_embed.proj.weight.dtype
        return self.encode(x.to(weight_dtype), lengths).to(x.dtype)

    def encode(self, x, lengths=None):
        """``forward`` in the weights' dtype."""
        tokens, grid = self.embed(x)
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
        for block in self.blocks:
            tokens = block(tokens, attn_mask=attn_mask)
        tokens = self.norm(tokens)
        if self.output_all_tokens:
            return tokens
        return self.pool(tokens, keep).unsqueeze(1)

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

    def pool(self, tokens, keep=None):
        """Pools the encoded tokens into one vector per clip."""
        if self.pooling == "cls_dist":
            return (tokens[:, 0] + tokens[:, 1]) / 2
        if self.pooling == "cls":
            return tokens[:, 0]
        patches = tokens[:, 2:]
        if keep is None:
            return patches.mean(dim=1)
        weights = keep[:, 2:].unsqueeze(-1).to(patches.dtype)
        return (patches * weights).sum(dim=1) / weights.sum(dim=1)
