"""The published AST checkpoints: one entry each, every fact in one place.

An entry holds where the weights come from (the original ``.pth`` URL or
the Hugging Face hub id), the architecture (an
``AudioSpectrogramTransformerConfig``: size, patch grid, strides), the
front end the model was trained with (frames and normalisation
statistics) and its label names. Adding a checkpoint is adding one entry
to ``PUBLISHED_CHECKPOINTS``.

Authors
 * AST-SpeechBrain contributors 2026
"""

import os
from dataclasses import dataclass

from ast_lobes.audio.fbank import NORMALIZATION_PRESETS
from ast_lobes.model.config import AudioSpectrogramTransformerConfig
from ast_lobes.weights.labels import audioset_label_names


@dataclass(frozen=True)
class FrontEnd:
    """The fbank front end a model was trained with.

    Arguments
    ---------
    target_length : int
        Frames every clip is padded or cut to.
    normalization : tuple
        ``(mean, std)`` of the reference scaling ``(x - mean) / (2 std)``.
    sample_rate : int
        Sample rate of the audio.
    n_mels : int
        Mel bins.
    """

    target_length: int
    normalization: tuple
    sample_rate: int = 16000
    n_mels: int = 128


@dataclass(frozen=True)
class PublishedCheckpoint:
    """One published AST model.

    Arguments
    ---------
    name : str
        The name users pass (``audioset_10_10_0.4593`` or a hub id).
    location : str
        Download URL of an original ``.pth``, or the Hugging Face hub id.
    source_format : str
        ``original`` or ``huggingface``.
    config : AudioSpectrogramTransformerConfig
        The architecture, with the patch grid the weights were trained on.
    front_end : FrontEnd
        The front end the model expects.
    label_set : str or None
        ``audioset`` for the 527 AudioSet names; None when the names come
        with the checkpoint (Hugging Face ``id2label``) or are unknown.
    multi_label : bool
        Whether the head was trained with sigmoid outputs (BCE).
    """

    name: str
    location: str
    source_format: str
    config: AudioSpectrogramTransformerConfig
    front_end: FrontEnd
    label_set: str = None
    multi_label: bool = True

    def label_names(self):
        """The label names this registry knows, or None."""
        if self.label_set == "audioset":
            return audioset_label_names()
        return None


AUDIOSET_FRONT_END = FrontEnd(1024, NORMALIZATION_PRESETS["audioset"])
SPEECHCOMMANDS_FRONT_END = FrontEnd(
    128, NORMALIZATION_PRESETS["speechcommands"]
)
_DROPBOX = "https://www.dropbox.com/s/"


def _original(name, dropbox_id, stride, frames, front_end, label_set):
    return PublishedCheckpoint(
        name=name,
        location=f"{_DROPBOX}{dropbox_id}/{name}.pth?dl=1",
        source_format="original",
        config=AudioSpectrogramTransformerConfig.from_size(
            "base384", fstride=stride, tstride=stride, target_length=frames
        ),
        front_end=front_end,
        label_set=label_set,
    )


def _huggingface(hub_id, stride, frames, front_end, label_set):
    return PublishedCheckpoint(
        name=hub_id,
        location=hub_id,
        source_format="huggingface",
        config=AudioSpectrogramTransformerConfig.from_size(
            "base384",
            fstride=stride,
            tstride=stride,
            target_length=frames,
            layer_norm_eps=1e-12,
        ),
        front_end=front_end,
        label_set=label_set,
    )


_ENTRIES = [
    _original("audioset_10_10_0.4593", "ca0b1v2nlxzyeb4", 10, 1024,
              AUDIOSET_FRONT_END, "audioset"),
    _original("audioset_10_10_0.4495", "1tv0hovue1bxupk", 10, 1024,
              AUDIOSET_FRONT_END, "audioset"),
    _original("audioset_10_10_0.4483", "6u5sikl4b9wo4u5", 10, 1024,
              AUDIOSET_FRONT_END, "audioset"),
    _original("audioset_10_10_0.4475", "kt6i0v9fvfm1mbq", 10, 1024,
              AUDIOSET_FRONT_END, "audioset"),
    _original("audioset_12_12_0.4467", "snfhx3tizr4nuc8", 12, 1024,
              AUDIOSET_FRONT_END, "audioset"),
    _original("audioset_14_14_0.4431", "z18s6pemtnxm4k7", 14, 1024,
              AUDIOSET_FRONT_END, "audioset"),
    _original("audioset_16_16_0.4422", "mdsa4t1xmcimia6", 16, 1024,
              AUDIOSET_FRONT_END, "audioset"),
    # The label order of this file is not published with it.
    _original("speechcommands_10_10_0.9812", "q0tbqpwv44pquwy", 10, 128,
              SPEECHCOMMANDS_FRONT_END, None),
    *(
        _huggingface(f"MIT/ast-finetuned-audioset-{suffix}", stride, 1024,
                     AUDIOSET_FRONT_END, None)
        for suffix, stride in (
            ("10-10-0.4593", 10),
            ("10-10-0.450", 10),
            ("10-10-0.448", 10),
            ("10-10-0.448-v2", 10),
            ("12-12-0.447", 12),
            ("14-14-0.443", 14),
            ("16-16-0.442", 16),
        )
    ),
    _huggingface("MIT/ast-finetuned-speech-commands-v2", 10, 128,
                 SPEECHCOMMANDS_FRONT_END, None),
]  # fmt: skip
PUBLISHED_CHECKPOINTS = {entry.name: entry for entry in _ENTRIES}


def find_published(source):
    """The registry entry a source names, or None.

    A published name, a hub id, or a local file named like a published
    one (``.../audioset_12_12_0.4467.pth``) all find their entry.

    Example
    -------
    >>> find_published("/data/audioset_12_12_0.4467.pth").config.fstride
    12
    >>> find_published("my_model.pth") is None
    True
    """
    source = os.fspath(source)
    if source in PUBLISHED_CHECKPOINTS:
        return PUBLISHED_CHECKPOINTS[source]
    name = os.path.basename(source.rstrip("/")).removesuffix(".pth")
    entry = PUBLISHED_CHECKPOINTS.get(name)
    if entry is not None and entry.source_format == "original":
        return entry
    return None
