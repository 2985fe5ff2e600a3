"""Kaldi-compatible log-mel filterbank features, as the reference AST uses.

Authors
 * AST-SpeechBrain contributors 2026
"""

import math

import torch
from torch import nn
from torchaudio.compliance import kaldi

from ast_lobes.audio.io import not_finite

# dataset: (mean, std) of the reference fbank, used as (x - mean) / (2 std)
NORMALIZATION_PRESETS = {
    "audioset": (-4.2677393, 4.5689974),
    "esc50": (-6.6268077, 5.358466),
    "speechcommands": (-6.845978, 5.5654526),
}


class FrontEndSettingError(ValueError):
    """A front-end setting that cannot give meaningful features (a rate,
    length or statistic that is not a positive finite number); the message
    names the argument (a recipe stops with it, exit status 2)."""


def positive_number(name, value, whole=False):
    """``value`` as a float (an int with ``whole``) if it is a finite
    number > 0, else ``FrontEndSettingError`` naming ``name``.

    Example
    -------
    >>> positive_number("frame_shift", 10)
    10.0
    >>> positive_number("frame_shift", float("nan"))
    Traceback (most recent call last):
    ...
    ast_lobes.audio.fbank.FrontEndSettingError: frame_shift=nan: not a ...
    """
    kind = "whole number" if whole else "finite number"
    try:
        if isinstance(value, bool):
            raise TypeError
        number = float(value)
        if whole and number != int(number):
            raise TypeError
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        raise FrontEndSettingError(f"{name}={value!r}: not a {kind} > 0")
    return int(number) if whole else number


def normalization_stats(normalization):
    """``(mean, std)`` from a preset name or a pair; None for no scaling.
    A mean that is not finite or a std that is not a finite number > 0
    raises ``FrontEndSettingError``.

    Example
    -------
    >>> normalization_stats("esc50")
    (-6.6268077, 5.358466)
    >>> normalization_stats((0.0, 0.0))
    Traceback (most recent call last):
    ...
    ast_lobes.audio.fbank.FrontEndSettingError: normalization std=0.0: ...
    """
    if normalization is None:
        return None
    if isinstance(normalization, str):
        if normalization not in NORMALIZATION_PRESETS:
            raise FrontEndSettingError(
                f"Unknown normalization preset {normalization!r}; expected "
                f"one of {sorted(NORMALIZATION_PRESETS)} or (mean, std)"
            )
        return NORMALIZATION_PRESETS[normalization]
    try:
        mean, std = (float(value) for value in normalization)
    except (TypeError, ValueError, OverflowError):
        raise FrontEndSettingError(
            f"normalization={normalization!r}: not a preset name or a "
            "(mean, std) pair of numbers"
        ) from None
    if not math.isfinite(mean):
        raise FrontEndSettingError(
            f"normalization mean={mean!r}: not a finite number"
        )
    return mean, positive_number("normalization std", std)


class FbankNormalization(nn.Module):
    """The reference scaling ``(x - mean) / (2 * std)``, or, with
    ``per_clip_mean``, ``(x - clip mean) / (2 * std)``: each mel band's
    mean over the clip's frames removed (cepstral mean normalisation, which
    takes out a recording channel's fixed coloration and gain).

    Usable as the ``mean_var_norm`` module of SpeechBrain's
    ``EncoderClassifier`` (it takes and ignores the relative lengths: a
    clip padded to ``target_length`` is scaled with its padding, as the
    model saw it in training).

    Arguments
    ---------
    normalization : str or tuple
        A preset (``audioset``, ``esc50``, ``speechcommands``) or
        ``(mean, std)``.
    per_clip_mean : bool
        Remove each clip's own band means instead of ``mean``.

    Example
    -------
    >>> norm = FbankNormalization((1.0, 2.0))
    >>> norm(torch.full((1, 2, 3), 5.0))[0, 0, 0].item()
    1.0
    >>> feats = torch.tensor([[[1.0, 7.0], [3.0, 5.0]]])  # 2 frames, 2 bands
    >>> FbankNormalization((1.0, 2.0), per_clip_mean=True)(feats)
    tensor([[[-0.2500,  0.2500],
             [ 0.2500, -0.2500]]])
    """

    def __init__(self, normalization, per_clip_mean=False):
        super().__init__()
        self.mean, self.std = normalization_stats(normalization)
        self.per_clip_mean = bool(per_clip_mean)

    def forward(self, feats, lengths=None):
        """Scales ``feats``; ``lengths`` is accepted for SpeechBrain."""
        if self.per_clip_mean:
            return (feats - feats.mean(dim=1, keepdim=True)) / (2 * self.std)
        return (feats - self.mean) / (2 * self.std)


class KaldiFbank(nn.Module):
    """Batched reference AST front end over ``[batch, samples]``.

    Each clip is cut to its true length (from SpeechBrain relative lengths),
    its mean removed, and passed to ``torchaudio.compliance.kaldi.fbank``
    with the reference arguments. Clips are then padded with zeros at the
    end or cut to ``target_length`` frames (or, without it, padded to the
    longest clip), and optionally normalised.

    Arguments
    ---------
    sample_rate : int
        Sample rate the features are built for (16 kHz in the reference).
    n_mels : int
        Mel bins.
    frame_shift : float
        Frame shift in ms.
    target_length : int or None
        Pad or cut every clip to this many frames.
    normalization : str, tuple or None
        See ``FbankNormalization``; None leaves the log-mel values as they
        are (for SpecAugment before scaling, as in the reference).

    A sample rate, ``n_mels``, frame shift or ``target_length`` that is
    not a number > 0 (or gives a frame or a shift of no samples) raises
    ``FrontEndSettingError`` naming it.

    Example
    -------
    >>> fbank = KaldiFbank(target_length=100, normalization="audioset")
    >>> wavs = torch.randn(2, 16000)
    >>> fbank(wavs, torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 100, 128])
    >>> KaldiFbank(frame_shift=0)
    Traceback (most recent call last):
    ...
    ast_lobes.audio.fbank.FrontEndSettingError: frame_shift=0: not a ...
    """

    def __init__(
        self,
        sample_rate=16000,
        n_mels=128,
        frame_shift=10.0,
        target_length=None,
        normalization=None,
    ):
        super().__init__()
        positive_number("sample_rate", sample_rate)
        positive_number("n_mels", n_mels, whole=True)
        positive_number("frame_shift", frame_shift)
        if target_length is not None:
            positive_number("target_length", target_length, whole=True)
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.frame_shift = frame_shift
        self.target_length = target_length
        if self.window_samples < 1 or self.shift_samples < 1:
            raise FrontEndSettingError(
                f"sample_rate={sample_rate!r}, frame_shift={frame_shift!r}: "
                f"a 25-ms frame of {self.window_samples} samples and a shift "
                f"of {self.shift_samples}; each needs at least one sample"
            )
        self.normalize = (
            FbankNormalization(normalization) if normalization else None
        )

    def settings(self):
        """What the features depend on: front ends with equal settings
        give equal features of the same waveforms.

        Example
        -------
        >>> KaldiFbank(target_length=100).settings() == KaldiFbank(
        ...     target_length=100).settings()
        True
        >>> KaldiFbank(n_mels=64).settings() == KaldiFbank().settings()
        False
        """
        scaling = None
        if self.normalize is not None:
            norm = self.normalize
            scaling = (norm.mean, norm.std, norm.per_clip_mean)
        return {
            "sample_rate": self.sample_rate,
            "n_mels": self.n_mels,
            "frame_shift": self.frame_shift,
            "target_length": self.target_length,
            "normalization": scaling,
        }

    def clip_fbank(self, wav):
        """Reference fbank ``[frames, n_mels]`` of one 1-D clip."""
        min_samples = int(0.025 * self.sample_rate)
        if wav.numel() < min_samples:
            raise ValueError(
                f"Clip of {wav.numel()} samples is shorter than one 25 ms "
                f"frame ({min_samples} samples at {self.sample_rate} Hz)"
            )
        wav = wav - wav.mean()
        return kaldi.fbank(
            wav.unsqueeze(0),
            htk_compat=True,
            sample_frequency=self.sample_rate,
            use_energy=False,
            window_type="hanning",
            num_mel_bins=self.n_mels,
            dither=0.0,
            frame_shift=self.frame_shift,
        )

    def check_finite(self, wavs, sizes):
        """Refuses a NaN or infinite sample within a clip's own ``sizes``
        (the padding after it is not read), as a file holding one is
        refused (``AudioFileError``, naming the clip of the batch).

        Example
        -------
        >>> wavs = torch.zeros(2, 16000)
        >>> wavs[1, 8000] = float("nan")
        >>> KaldiFbank().check_finite(wavs, [16000, 16000])
        Traceback (most recent call last):
        ...
        ast_lobes.audio.io.AudioFileError: waveform 2 of 2: a sample that ...
        >>> KaldiFbank().check_finite(wavs, [16000, 8000])
        """
        if torch.compiler.is_compiling() or torch.jit.is_tracing():
            return  # an exported graph holds no refusal: its caller checks
        if bool(torch.isfinite(wavs.sum())):  # fast; finite if all are
            return
        finite = torch.isfinite(wavs)
        for index, (row, size) in enumerate(zip(finite, sizes, strict=True)):
            bad = (~row[:size]).nonzero()
            if len(bad):
                raise not_finite(f"waveform {index + 1} of {len(sizes)}",
                                 int(bad[0, 0]), self.sample_rate)  # fmt: skip

    def num_frames(self, n_samples):
        """Frames the fbank gives for ``n_samples`` (25 ms windows).

        Example
        -------
        >>> KaldiFbank().num_frames(16000)
        98
        """
        shift = self.shift_samples
        return max(0, 1 + (n_samples - self.window_samples) // shift)

    @property
    def shift_samples(self):
        """Samples between the starts of two frames.

        Example
        -------
        >>> KaldiFbank().shift_samples
        160
        """
        return int(self.frame_shift * self.sample_rate / 1000)

    @property
    def window_samples(self):
        """Samples of one 25 ms frame: the shortest audio with a frame.

        Example
        -------
        >>> KaldiFbank().window_samples
        400
        """
        return int(0.025 * self.sample_rate)

    def forward(
        self,
        wavs,
        wav_lens=None,
        sample_rate=None,
        pad=True,
        return_lengths=False,
    ):
        """Computes features for a batch of waveforms.

        Each clip's features are those it gets alone: its own frames,
        padded with zeros or cut to ``target_length``. Frames beyond that
        (a batch padded to its longest clip) are padding. A clip holding a
        NaN or infinite sample is refused (``check_finite``).

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` or ``[samples]``.
        wav_lens : torch.Tensor or None
            Relative lengths ``[batch]``.
        sample_rate : int or None
            Sample rate of ``wavs``; an error is raised if it is not the
            one the features are built for.
        pad : bool
            Pad every clip to ``target_length`` (True), or only to the
            longest clip of the batch (False; clips are still cut to
            ``target_length``), for inference at the clips' own lengths.
        return_lengths : bool
            Also return each clip's frames relative to the batch's.

        Returns
        -------
        feats : torch.Tensor
            ``[batch, frames, n_mels]``.
        frame_lens : torch.Tensor
            ``[batch]`` relative frame lengths (with ``return_lengths``).
            Both in float32, under autocast too.

        Example
        -------
        >>> fbank = KaldiFbank()
        >>> feats, lens = fbank(torch.randn(2, 16000), torch.tensor(
        ...     [1.0, 0.5]), return_lengths=True)
        >>> feats.shape, [round(n * 98) for n in lens.tolist()]
        (torch.Size([2, 98, 128]), [98, 48])
        """
        if sample_rate is not None and sample_rate != self.sample_rate:
            raise ValueError(
                f"Audio at {sample_rate} Hz given to features built for "
                f"{self.sample_rate} Hz; resample it first"
            )
        if wavs.dim() == 1:
            wavs = wavs.unsqueeze(0)
        n_samples = wavs.shape[1]
        if wav_lens is None:
            sizes = [n_samples] * wavs.shape[0]
        else:
            sizes = torch.round(wav_lens * n_samples).long().tolist()
        self.check_finite(wavs, sizes)
        # The reference front end is fp32 even inside a bf16 autocast
        # region (SpeechBrain's --precision bf16).
        with torch.autocast(wavs.device.type, enabled=False):
            feats = [
                self.clip_fbank(wav[:size])
                for wav, size in zip(wavs.float(), sizes, strict=True)
            ]
        longest = max(feat.shape[0] for feat in feats)
        length = self.target_length or longest
        if not pad:
            length = min(length, longest)
        batch = wavs.new_zeros(len(feats), length, self.n_mels)
        valid = []
        for index, feat in enumerate(feats):
            frames = min(length, feat.shape[0])
            batch[index, :frames] = feat[:frames]
            valid.append(length if pad and self.target_length else frames)
        if self.normalize is not None:
            batch = self.normalize(batch)
        if return_lengths:
            lens = torch.tensor(valid, device=batch.device) / length
            return batch, lens
        return batch
