"""The HEAR 2021 common API (Turian et al., 2022) over any model this
project loads: a model folder exported by a recipe, or a published AST
(name, original ``.pth``, Hugging Face folder or hub id).

* ``load_model(model_file_path)`` gives a ``torch.nn.Module`` with
  ``sample_rate``, ``scene_embedding_size`` and
  ``timestamp_embedding_size``;
* ``get_scene_embeddings(audio, model)``: ``[n_sounds, dim]``, the vector
  the classifier sees (the mean over windows for long audio);
* ``get_timestamp_embeddings(audio, model)``: ``[n_sounds, n_steps,
  dim]`` (patch tokens averaged over the frequency rows) and their centre
  times in milliseconds ``[n_sounds, n_steps]``, evenly spaced.

``audio`` is ``[n_sounds, n_samples]`` at ``model.sample_rate``.

Authors
 * AST-SpeechBrain contributors 2026
"""

import numpy as np
import torch
from torch import nn

from pretrained_interfaces.audio_tagger import AudioTagger
from pretrained_interfaces.embeddings import embed_windows, steps_hop_seconds
from pretrained_interfaces.windows import window_starts


class HearModel(nn.Module):
    """A tagger seen through the HEAR API (its attributes)."""

    def __init__(self, tagger):
        super().__init__()
        self.tagger = tagger
        self.sample_rate = int(tagger.sample_rate)
        dim = int(tagger.pipeline.bare_encoder.embed_dim)
        self.scene_embedding_size = dim
        self.timestamp_embedding_size = dim

    def sync_device(self, audio):
        """Runs the tagger where ``model.to(...)`` put its weights."""
        device = next(self.tagger.mods.parameters()).device
        self.tagger.device = str(device)
        return audio.to(device)


def load_model(model_file_path=""):
    """A ``HearModel`` from an exported model folder or a published AST.

    Example
    -------
    >>> load_model("")
    Traceback (most recent call last):
    ...
    ValueError: give a model: an exported model folder or a published AST
    """
    if not model_file_path:
        raise ValueError(
            "give a model: an exported model folder or a published AST"
        )
    # fp32: the API asks for float32 embeddings
    tagger = AudioTagger.from_source(str(model_file_path), precision="fp32")
    return HearModel(tagger).eval()


def sound_embeddings(audio, model):
    """Per sound ``(scene [dim], steps [n_steps, dim], times [n_steps] in
    seconds)``: windows of the model's length on the time-step grid."""
    tagger = model.tagger
    rate = model.sample_rate
    window = int(round(tagger.window_seconds * rate))
    hop = int(round(steps_hop_seconds(tagger.pipeline) * rate))
    results = []
    for wave in audio:
        windows = [
            (start / rate, None, wave[start : start + window])
            for start in window_starts(len(wave), window, hop, aligned=True)
        ]
        pooled, per_step = embed_windows(tagger, windows, time_steps=True)
        results.append((
            pooled.mean(axis=0),
            np.concatenate([steps for steps, _ in per_step]),
            np.concatenate([times for _, times in per_step]),
        ))  # fmt: skip
    return results


@torch.no_grad()
def get_scene_embeddings(audio, model):
    """``[n_sounds, scene_embedding_size]`` float32 embeddings."""
    audio = model.sync_device(audio)
    pooled = [scene for scene, _, _ in sound_embeddings(audio, model)]
    return torch.from_numpy(np.stack(pooled)).float().to(audio.device)


@torch.no_grad()
def get_timestamp_embeddings(audio, model):
    """``(embeddings [n_sounds, n_steps, dim], timestamps [n_sounds,
    n_steps] in ms)``; sounds of one batch have the same length, so the
    same steps."""
    audio = model.sync_device(audio)
    results = sound_embeddings(audio, model)
    steps = torch.from_numpy(np.stack([s for _, s, _ in results]))
    times = torch.from_numpy(np.stack([t for _, _, t in results]) * 1000)
    return steps.float().to(audio.device), times.float().to(audio.device)
