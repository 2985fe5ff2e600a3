"""Feature augmentation as the reference AST applies it.

SpecAugment masks (before normalisation) and the Speech Commands noise
(after it). Both also draw from one ``torch.Generator`` per clip when
given them (``ast_lobes.augmentation.draws``): the same generators give the
same augmented clip, so a teacher and its student can see the same draw.

Authors
 * AST-SpeechBrain contributors 2026
"""

import torch
import torchaudio
from torch import nn


class SpecAugment(nn.Module):
    """One frequency and one time mask per clip, filled with zeros.

    Uses torchaudio's masking with independent masks for every clip; widths
    are drawn uniformly below ``freq_mask`` and ``time_mask``.

    Arguments
    ---------
    freq_mask : int
        Maximum frequency-mask width in bins (0 for none).
    time_mask : int
        Maximum time-mask width in frames (0 for none).

    Example
    -------
    >>> import torch
    >>> augment = SpecAugment(freq_mask=24, time_mask=96)
    >>> augment(torch.ones(2, 512, 128)).shape
    torch.Size([2, 512, 128])
    >>> draws = [torch.Generator().manual_seed(7) for _ in range(2)]
    >>> same = augment(torch.ones(2, 512, 128), draws)
    >>> torch.equal(same[0], same[1])
    True
    """

    def __init__(self, freq_mask=0, time_mask=0):
        super().__init__()
        self.freq_mask, self.time_mask = freq_mask, time_mask
        self.freq_masking = (
            torchaudio.transforms.FrequencyMasking(freq_mask, iid_masks=True)
            if freq_mask
            else None
        )
        self.time_masking = (
            torchaudio.transforms.TimeMasking(time_mask, iid_masks=True)
            if time_mask
            else None
        )

    def forward(self, feats, generators=None):
        """Masks ``feats`` ``[batch, time, mel]``; with ``generators``
        (one per clip) each clip's masks are drawn from its generator."""
        if generators is not None:
            return self.seeded(feats, generators)
        spec = feats.transpose(1, 2).unsqueeze(1)
        if self.freq_masking is not None:
            spec = self.freq_masking(spec)
        if self.time_masking is not None:
            spec = self.time_masking(spec)
        return spec.squeeze(1).transpose(1, 2)

    def seeded(self, feats, generators):
        """torchaudio's iid masking (a width below the maximum, a start
        below ``size - width``, frequency first), drawn per clip from its
        generator."""
        masked = feats.clone()
        frames, mels = feats.shape[1:]
        for clip, generator in zip(masked, generators, strict=True):
            for most, size, axis in ((self.freq_mask, mels, 1),
                                     (self.time_mask, frames, 0)):  # fmt: skip
                if not most:
                    continue
                width = torch.rand(1, generator=generator) * most
                start = torch.rand(1, generator=generator) * (size - width)
                clip.narrow(axis, int(start), int(width)).zero_()
        return masked


class FbankNoise(nn.Module):
    """The reference Speech Commands noise on normalised features.

    Adds uniform noise ``U(0, 1) * s`` with a per-clip strength
    ``s ~ U(0, scale)``, then rolls each clip along time by a random shift
    in ``[-max_shift, max_shift)`` frames (numpy's ``randint`` range, as in
    the reference). Training only: the Brain applies it after
    normalisation.

    Arguments
    ---------
    scale : float
        Largest noise strength (0.1 in the reference).
    max_shift : int
        Largest time shift in frames (10 in the reference).

    Example
    -------
    >>> import torch
    >>> noise = FbankNoise()
    >>> noise(torch.zeros(2, 128, 128)).shape
    torch.Size([2, 128, 128])
    """

    def __init__(self, scale=0.1, max_shift=10):
        super().__init__()
        self.scale = scale
        self.max_shift = max_shift

    def forward(self, feats, generators=None):
        """Noisy, time-shifted ``feats`` ``[batch, time, mel]``; with
        ``generators`` (one per clip) each clip's draw comes from its
        generator."""
        batch, frames = feats.shape[:2]
        if generators is None:
            strength = torch.rand(batch, 1, 1, device=feats.device)
            noise = torch.rand_like(feats)
        else:
            strength = torch.stack(
                [torch.rand(1, 1, generator=g) for g in generators]
            )
            noise = torch.stack([
                torch.rand(feats.shape[1:], generator=g) for g in generators
            ])  # fmt: skip
        strength = (strength * self.scale).to(feats.device, feats.dtype)
        feats = feats + noise.to(feats.device, feats.dtype) * strength
        if not self.max_shift:
            return feats
        if generators is None:
            shifts = torch.randint(
                -self.max_shift, self.max_shift, (batch, 1),
                device=feats.device,
            )  # fmt: skip
        else:
            shifts = torch.cat([
                torch.randint(-self.max_shift, self.max_shift, (1, 1),
                              generator=g)
                for g in generators
            ]).to(feats.device)  # fmt: skip
        positions = torch.arange(frames, device=feats.device).unsqueeze(0)
        sources = (positions - shifts) % frames
        index = sources.unsqueeze(-1).expand_as(feats)
        return torch.gather(feats, 1, index)
