"""Feature augmentation as the reference AST applies it.

SpecAugment masks (before normalisation) and the Speech Commands noise
(after it).

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
    """

    def __init__(self, freq_mask=0, time_mask=0):
        super().__init__()
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

    def forward(self, feats):
        """Masks ``feats`` ``[batch, time, mel]``."""
        spec = feats.transpose(1, 2).unsqueeze(1)
        if self.freq_masking is not None:
            spec = self.freq_masking(spec)
        if self.time_masking is not None:
            spec = self.time_masking(spec)
        return spec.squeeze(1).transpose(1, 2)


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

    def forward(self, feats):
        """Noisy, time-shifted ``feats`` ``[batch, time, mel]``."""
        batch, frames = feats.shape[:2]
        strength = torch.rand(batch, 1, 1, device=feats.device) * self.scale
        feats = feats + torch.rand_like(feats) * strength.to(feats.dtype)
        if not self.max_shift:
            return feats
        shifts = torch.randint(
            -self.max_shift, self.max_shift, (batch, 1), device=feats.device
        )
        positions = torch.arange(frames, device=feats.device).unsqueeze(0)
        sources = (positions - shifts) % frames
        index = sources.unsqueeze(-1).expand_as(feats)
        return torch.gather(feats, 1, index)
