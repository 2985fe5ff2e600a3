"""Augmentation draws that can be repeated: one seeded generator per clip
and draw, so a teacher's stored outputs match the augmented clip its
student sees (the CED idea: teacher outputs stored per augmentation draw).

Authors
 * AST-SpeechBrain contributors 2026
"""

import hashlib

import torch


def draw_seed(clip_id, draw, seed=0):
    """A 63-bit seed for one clip's ``draw``, the same in every process
    (Python's ``hash`` of a string is not).

    Example
    -------
    >>> draw_seed("dog_1", 0) == draw_seed("dog_1", 0)
    True
    >>> draw_seed("dog_1", 0) == draw_seed("dog_1", 1)
    False
    """
    text = f"{seed}\0{draw}\0{clip_id}".encode()
    digest = hashlib.blake2b(text, digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def draw_generators(clip_ids, draw, seed=0):
    """One CPU generator per clip, seeded by ``draw_seed``.

    Example
    -------
    >>> first = draw_generators(["a", "b"], draw=3)
    >>> again = draw_generators(["a", "b"], draw=3)
    >>> torch.rand(1, generator=first[1]) == torch.rand(1, generator=again[1])
    tensor([True])
    """
    return [
        torch.Generator().manual_seed(draw_seed(clip_id, draw, seed))
        for clip_id in clip_ids
    ]


def augmentation_settings(spec_augment=None, fbank_noise=None):
    """What decides a draw's augmentation, as a plain dict (stored beside
    a teacher's outputs and compared with the student's).

    Example
    -------
    >>> from ast_lobes.augmentation.spectrogram import SpecAugment
    >>> augmentation_settings(SpecAugment(8, 10))
    {'freq_mask': 8, 'time_mask': 10, 'noise_scale': 0, 'max_shift': 0}
    """
    return {
        "freq_mask": getattr(spec_augment, "freq_mask", 0),
        "time_mask": getattr(spec_augment, "time_mask", 0),
        "noise_scale": getattr(fbank_noise, "scale", 0),
        "max_shift": getattr(fbank_noise, "max_shift", 0),
    }


def augment_features(
    pipeline, wavs, wav_lens=None, spec_augment=None, fbank_noise=None,
    generators=None, raw=None,
):  # fmt: skip
    """Training features: the fbank, SpecAugment, the scaling, the fbank
    noise (the reference order); each clip's draw comes from its generator
    when ``generators`` are given, else from torch's global generator.

    Arguments
    ---------
    pipeline : ast_lobes.AudioClassificationPipeline
        Its front end and scaling are used.
    wavs, wav_lens : torch.Tensor
        Waveforms ``[batch, samples]`` and relative lengths.
    spec_augment, fbank_noise : torch.nn.Module or None
        ``SpecAugment`` and ``FbankNoise`` (None: not applied).
    generators : list of torch.Generator or None
        One per clip (``draw_generators``).
    raw : tuple or None
        ``pipeline.raw_features(wavs, wav_lens)`` when already computed
        (several draws of one batch).

    Returns
    -------
    tuple
        Features ``[batch, frames, n_mels]`` and relative frame lengths.
    """
    feats, frame_lens = raw or pipeline.raw_features(wavs, wav_lens)
    if spec_augment is not None:
        feats = spec_augment(feats, generators)
    feats = pipeline.normalize(feats)
    if fbank_noise is not None:
        feats = fbank_noise(feats, generators)
    return feats, frame_lens
