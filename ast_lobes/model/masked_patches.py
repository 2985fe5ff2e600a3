"""Masked spectrogram patch modelling (SSAST, Gong et al., AAAI 2022):
self-supervised pretraining of the AST encoder on unlabelled audio.

Some patches of each clip are replaced by a learned mask embedding; from
the encoder's outputs at those positions, a discriminative head must pick
each masked patch among all masked patches of its clip (InfoNCE) and a
generative head must reconstruct it (mean squared error).

Authors
 * AST-SpeechBrain contributors 2026
"""

import torch
import torch.nn.functional as F
from torch import nn

from ast_lobes.model.config import ModelSettingError

MASK_MODES = ("patch", "frame")


def patch_targets(feats, patch_size, stride):
    """The fbank patches the encoder embeds, flattened, in its token
    order (frequency rows, each left to right in time).

    Arguments
    ---------
    feats : torch.Tensor
        Normalised fbank ``[batch, time, mel]``.
    patch_size : tuple
        ``(mel bins, frames)`` of a patch.
    stride : tuple
        ``(fstride, tstride)``.

    Returns
    -------
    torch.Tensor
        ``[batch, patches, mel bins * frames]``.

    Example
    -------
    >>> feats = torch.arange(8.0).view(1, 4, 2)  # 4 frames, 2 mel bins
    >>> patch_targets(feats, (2, 2), (2, 2))
    tensor([[[0., 2., 1., 3.],
             [4., 6., 5., 7.]]])
    """
    image = feats.transpose(1, 2).unsqueeze(1)  # [batch, 1, mel, time]
    patches = F.unfold(image, kernel_size=patch_size, stride=stride)
    return patches.transpose(1, 2)


def choose_masked(grid, count, mode="patch", cluster=True, generator=None):
    """Which patches of a ``(f_dim, t_dim)`` grid to mask.

    * ``patch``: ``count`` patches; with ``cluster``, grown as square
      blocks of ``c x c`` neighbouring patches (``c`` drawn once per clip
      from 3 to 5, cut at the grid's edges) at random places until
      ``count`` are chosen, as SSAST masks; else ``count`` patches drawn
      at random.
    * ``frame``: ``count`` whole time columns of the grid (every
      frequency row of each), ``count * f_dim`` patches.

    Returns
    -------
    torch.Tensor
        Sorted token indices (``f * t_dim + t``), without repeats.

    Example
    -------
    >>> chosen = choose_masked((8, 6), 20)
    >>> len(chosen), len(set(chosen.tolist()))
    (20, 20)
    >>> choose_masked((2, 5), 2, mode="frame").shape
    torch.Size([4])
    """
    f_dim, t_dim = grid
    if mode not in MASK_MODES:
        raise ModelSettingError(
            f"mode must be one of {MASK_MODES}, not {mode!r}"
        )
    if mode == "frame":
        if not 0 < count < t_dim:
            raise ModelSettingError(
                f"frame masking: {count} frames of a {t_dim}-frame grid; "
                "mask at least one and leave one"
            )
        columns = torch.randperm(t_dim, generator=generator)[:count]
        rows = torch.arange(f_dim).unsqueeze(1) * t_dim
        return (rows + columns.unsqueeze(0)).flatten().sort().values
    total = f_dim * t_dim
    if not 0 < count < total:
        raise ModelSettingError(
            f"{count} masked patches of {total}: mask at least one and "
            "leave one"
        )
    if not cluster:
        return torch.randperm(total, generator=generator)[:count].sort().values
    size = int(torch.randint(3, 6, (1,), generator=generator))
    chosen = {}
    while len(chosen) < count:
        f0 = int(torch.randint(f_dim, (1,), generator=generator))
        t0 = int(torch.randint(t_dim, (1,), generator=generator))
        for f in range(f0, min(f0 + size, f_dim)):
            for t in range(t0, min(t0 + size, t_dim)):
                chosen.setdefault(f * t_dim + t, None)
    return torch.tensor(list(chosen)[:count]).sort().values


def info_nce(predictions, targets):
    """Each masked position's prediction must pick its own patch among
    the clip's masked patches: cross-entropy over the dot products
    ``predictions[k] @ targets[j]`` (j = k is right), with the share of
    positions that pick their own patch.

    Arguments
    ---------
    predictions, targets : torch.Tensor
        ``[batch, masked, patch_dim]``.

    Returns
    -------
    tuple
        The mean loss and the accuracy (tensors).

    Example
    -------
    >>> patches = torch.eye(3).unsqueeze(0)
    >>> loss, accuracy = info_nce(10 * patches, patches)
    >>> round(loss.item(), 4), accuracy.item()
    (0.0001, 1.0)
    """
    scores = torch.bmm(predictions, targets.transpose(1, 2))
    truth = torch.arange(scores.shape[1], device=scores.device)
    truth = truth.expand(scores.shape[0], -1)
    loss = F.cross_entropy(scores.flatten(0, 1), truth.flatten())
    accuracy = (scores.argmax(dim=-1) == truth).float().mean()
    return loss, accuracy


def prediction_head(dim, out_dim):
    """SSAST's prediction MLP: Linear, ReLU, Linear."""
    return nn.Sequential(
        nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, out_dim)
    )


class MaskedPatchModel(nn.Module):
    """An AST encoder with what masked patch modelling adds: the mask
    embedding and the discriminative and generative heads.

    The encoder should embed non-overlapping patches (strides equal to
    the patch size), so each target is one patch of its own: 16 x 16
    patches (``patch``) or 128 x 2 ones (``frame``, with
    ``patch_size [128, 2]``).

    Arguments
    ---------
    encoder : ast_lobes.AudioSpectrogramTransformer
        The encoder being pretrained; it is saved alone afterwards.
    mask_count : int
        Masked patches per clip (``patch``) or masked frames (``frame``).
    mask_mode : str
        ``patch`` or ``frame`` (see ``choose_masked``).
    cluster : bool
        Masked patches in clusters (``patch`` mode).
    generative_weight : float
        Total loss = InfoNCE + ``generative_weight`` x MSE (SSAST: 10).

    Example
    -------
    >>> from ast_lobes import AudioSpectrogramTransformer
    >>> encoder = AudioSpectrogramTransformer(model_size=None, embed_dim=32,
    ...     depth=1, num_heads=2, target_length=96, fstride=16, tstride=16)
    >>> model = MaskedPatchModel(encoder, mask_count=20)
    >>> out = model(torch.randn(2, 96, 128))
    >>> sorted(out)
    ['accuracy', 'discriminative', 'generative', 'loss']
    """

    def __init__(self, encoder, mask_count=400, mask_mode="patch",
                 cluster=True, generative_weight=10.0):  # fmt: skip
        super().__init__()
        if tuple(encoder.patch_size) != (encoder.fstride, encoder.tstride):
            raise ModelSettingError(
                f"masked patch modelling needs non-overlapping patches: "
                f"patch size {tuple(encoder.patch_size)}, strides "
                f"{(encoder.fstride, encoder.tstride)}"
            )
        if encoder.config.stem_channels:
            raise ModelSettingError(
                "masked patch modelling needs an encoder without a "
                "convolutional stem (stem_channels 0): the stem's "
                "convolutions would show each masked patch its neighbours"
            )
        if mask_mode not in MASK_MODES:
            raise ModelSettingError(
                f"mask_mode must be one of {MASK_MODES}, not {mask_mode!r}"
            )
        self.encoder = encoder
        self.mask_count, self.mask_mode = mask_count, mask_mode
        self.cluster, self.generative_weight = cluster, generative_weight
        dim = encoder.embed_dim
        patch_dim = encoder.patch_size[0] * encoder.patch_size[1]
        self.mask_embed = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.xavier_normal_(self.mask_embed)
        self.discriminative_head = prediction_head(dim, patch_dim)
        self.generative_head = prediction_head(dim, patch_dim)

    def choose(self, grid, batch, generator=None):
        """Masked token indices ``[batch, masked]``, one draw per clip."""
        return torch.stack([
            choose_masked(grid, self.mask_count, self.mask_mode,
                          self.cluster, generator)
            for _ in range(batch)
        ])  # fmt: skip

    def forward(self, feats, generator=None):
        """The losses of a batch of normalised fbank ``[batch, time, mel]``:
        ``loss``, ``discriminative`` (InfoNCE), ``generative`` (MSE) and
        ``accuracy`` (masked positions that pick their own patch)."""
        encoder = self.encoder
        grid = encoder.patch_grid(feats.shape[1], feats.shape[2])
        index = self.choose(grid, feats.shape[0], generator).to(feats.device)
        masked = torch.zeros(
            feats.shape[0], grid[0] * grid[1], dtype=torch.bool,
            device=feats.device,
        )  # fmt: skip
        masked.scatter_(1, index, True)
        tokens, _ = encoder.embed(feats, masked, self.mask_embed)
        outputs = encoder.transform(tokens)[:, 2:]
        picked = index.unsqueeze(-1)
        outputs = outputs.gather(1, picked.expand(-1, -1, outputs.shape[-1]))
        targets = patch_targets(feats, encoder.patch_size,
                                (encoder.fstride, encoder.tstride))  # fmt: skip
        targets = targets.gather(1, picked.expand(-1, -1, targets.shape[-1]))
        return masked_patch_losses(
            self.discriminative_head(outputs), self.generative_head(outputs),
            targets, self.generative_weight,
        )  # fmt: skip


def masked_patch_losses(discriminative, generative, targets, weight=10.0):
    """The SSAST losses of the heads' outputs at the masked positions.

    Arguments
    ---------
    discriminative, generative, targets : torch.Tensor
        ``[batch, masked, patch_dim]``: the two heads' outputs and the
        masked patches.
    weight : float
        Weight of the generative (MSE) loss in ``loss``.

    Returns
    -------
    dict
        ``loss``, ``discriminative`` (InfoNCE), ``generative`` (MSE),
        ``accuracy``.

    Example
    -------
    >>> patches = torch.randn(2, 5, 4)
    >>> masked_patch_losses(patches, patches, patches)["generative"].item()
    0.0
    """
    nce, accuracy = info_nce(discriminative, targets)
    mse = F.mse_loss(generative, targets)
    return {
        "loss": nce + weight * mse,
        "discriminative": nce,
        "generative": mse,
        "accuracy": accuracy,
    }
