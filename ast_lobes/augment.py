"""SpecAugment as the reference AST applies it (before normalisation).

Authors
 * AST-SpeechBrain contributors 2026
"""

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
