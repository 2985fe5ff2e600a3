"""Embeddings of a classifier's encoder: the pooled vector its head sees
(per clip or per window) and the patch tokens averaged over the
frequency rows (per time step, with the centre time of each step).

Authors
 * AST-SpeechBrain contributors 2026
"""

import os
from dataclasses import dataclass

import numpy as np
import torch
from speechbrain.utils.data_utils import batch_pad_right

from pretrained_interfaces.windows import read_window_batches

FRAME_MS = 25.0  # the Kaldi fbank window


@dataclass
class EmbeddingResult:
    """The embeddings of one file.

    ``clip`` is the mean of the windows' pooled vectors; ``steps`` and
    ``step_times`` (seconds from the file's start) are None unless time
    steps were asked for.
    """

    file: str
    duration: float
    clip: np.ndarray
    windows: list
    window_embeddings: np.ndarray
    steps: np.ndarray = None
    step_times: np.ndarray = None


@torch.no_grad()
def pooled_embeddings(pipeline, wavs, wav_lens=None):
    """The vector the head sees, ``[batch, dim]`` (the mean of the two
    tokens of a two-head model's ``cls_dist_pair`` pooling; a
    ``BlockWeightedHead``'s weighted sum of the blocks)."""
    feats, frame_lens = pipeline.features(wavs, wav_lens)
    pooled = pipeline.embed(feats, frame_lens)
    combine = getattr(pipeline.head, "combine", None)
    if combine is not None:
        pooled = combine(pooled)
    return pooled.mean(dim=1)


def step_centres(encoder, n_steps, frame_shift_ms):
    """Centre times (seconds) of the first ``n_steps`` time steps: the
    middle of the audio a column of patches covers.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> encoder = SimpleNamespace(tstride=10, patch_size=(16, 16))
    >>> step_centres(encoder, 2, 10.0)
    array([0.0875, 0.1875])
    """
    first = np.arange(n_steps) * encoder.tstride * frame_shift_ms
    last = first + (encoder.patch_size[1] - 1) * frame_shift_ms + FRAME_MS
    return (first + last) / 2 / 1000


def steps_hop_seconds(pipeline):
    """A window hop that keeps the time steps of consecutive windows
    evenly spaced: the window's time steps times their spacing."""
    encoder = pipeline.bare_encoder
    _, t_dim = encoder.patch_grid(pipeline.target_length, encoder.input_fdim)
    shift = pipeline.compute_features.frame_shift
    return t_dim * encoder.tstride * shift / 1000


@torch.no_grad()
def time_step_embeddings(pipeline, wavs, wav_lens=None, pooled=False):
    """Per clip, the patch tokens averaged over the frequency rows and
    their centre times (seconds from the clip's start): a list of
    ``(steps [time steps, dim], times [time steps])``. Only steps whose
    patches lie in the clip's own frames (not the padding up to the
    model's window) are kept, the first always. With ``pooled``, also the
    pooled embeddings ``[batch, dim]`` from the same encoder pass:
    ``(pooled, steps)``."""
    feats, frame_lens = pipeline.features(wavs, wav_lens)
    tokens = pipeline.encoder(feats, frame_lens, all_tokens=True)
    encoder = pipeline.bare_encoder
    grid = encoder.patch_grid(feats.shape[1], feats.shape[2])
    f_dim, t_dim = grid
    columns = tokens[:, 2:].reshape(len(tokens), f_dim, t_dim, -1).mean(1)
    if wav_lens is None:
        wav_lens = torch.ones(len(wavs))
    samples = torch.round(wav_lens.cpu() * wavs.shape[-1]).tolist()
    valid_frames = [pipeline.compute_features.num_frames(int(n))
                    for n in samples]  # fmt: skip
    ends = np.arange(t_dim) * encoder.tstride + encoder.patch_size[1]
    times = step_centres(encoder, t_dim, pipeline.compute_features.frame_shift)
    out = []
    for clip, frames in zip(columns.float().cpu().numpy(), valid_frames,
                            strict=True):  # fmt: skip
        keep = max(1, int((ends <= frames).sum()))
        out.append((clip[:keep], times[:keep]))
    if not pooled:
        return out
    if getattr(pipeline.head, "combine", None) is not None:
        return pooled_embeddings(pipeline, wavs, wav_lens), out  # every block
    keep = None
    if bool((frame_lens < 1).any()):
        keep = encoder.padding_mask(frame_lens, feats.shape[1], grid)
    vectors = encoder.pool_tokens(tokens, grid, keep).mean(dim=1)
    return vectors, out


def embed_batch(tagger, wavs, wav_lens=None, time_steps=False):
    """Embeddings of waveforms at the tagger's rate: the vector the head
    sees, ``[batch, dim]``; with ``time_steps``, per clip the patch tokens
    averaged over frequency rows and their centre times in seconds (a list
    of ``(steps [time steps, dim], times)``).

    Example
    -------
    >>> from ast_lobes import (AudioClassificationHead,
    ...     AudioClassificationPipeline, AudioSpectrogramTransformer,
    ...     FbankNormalization, KaldiFbank)
    >>> from pretrained_interfaces import AudioTagger
    >>> pipeline = AudioClassificationPipeline(
    ...     KaldiFbank(target_length=100), FbankNormalization("audioset"),
    ...     AudioSpectrogramTransformer(model_size=None, embed_dim=32,
    ...         depth=1, num_heads=2, target_length=100),
    ...     AudioClassificationHead(32, 3))
    >>> tagger = AudioTagger.from_pipeline(
    ...     pipeline, ["a", "b", "c"], precision="fp32")
    >>> embed_batch(tagger, torch.randn(2, 16000)).shape
    torch.Size([2, 32])
    """
    wavs = wavs.to(tagger.device)
    if wav_lens is not None:
        wav_lens = wav_lens.to(tagger.device)
    if time_steps:
        return time_step_embeddings(tagger.pipeline, wavs, wav_lens)
    return pooled_embeddings(tagger.pipeline, wavs, wav_lens)


def embed_windows(tagger, windows, time_steps=False):
    """The pooled embeddings ``[windows, dim]`` of ``(start_s, end_s,
    wav)`` windows run as one batch and, with ``time_steps``, each
    window's ``(steps, times)`` with times from the file's start."""
    wavs, lens = batch_pad_right([wav for _, _, wav in windows])
    if not time_steps:
        return embed_batch(tagger, wavs, lens).float().cpu().numpy(), []
    pooled, steps = time_step_embeddings(
        tagger.pipeline, wavs.to(tagger.device), lens.to(tagger.device),
        pooled=True,
    )  # fmt: skip
    per_step = [
        (vectors, at + start)
        for (start, _, _), (vectors, at) in zip(windows, steps, strict=True)
    ]
    return pooled.float().cpu().numpy(), per_step


def embed_file(tagger, path, window=None, hop=None, time_steps=False,
               batch_size=8):  # fmt: skip
    """Embeddings of one file of any length, window by window, with
    memory that does not grow with the file beyond its outputs.

    Arguments
    ---------
    tagger : pretrained_interfaces.AudioTagger
        The model.
    path : str
        Audio file.
    window, hop : float or None
        Window and hop in seconds (default: the model's window, no
        overlap). With ``time_steps`` the hop is the one that keeps the
        steps evenly spaced across windows.
    time_steps : bool
        Also the per-time-step embeddings and their times.
    batch_size : int
        Windows run together.

    Returns
    -------
    EmbeddingResult
    """
    window = window or tagger.window_seconds
    hop = steps_hop_seconds(tagger.pipeline) if time_steps else hop
    hop = hop or window
    spans, pooled, steps, times = [], [], [], []
    for batch in read_window_batches(path, tagger.sample_rate, window, hop,
                                     batch_size, tagger.min_window_samples,
                                     aligned=time_steps):  # fmt: skip
        vectors, per_step = embed_windows(tagger, batch, time_steps)
        pooled.append(vectors)
        for step_vectors, at in per_step:
            steps.append(step_vectors)
            times.append(at)
        spans.extend((start, end) for start, end, _ in batch)
    window_embeddings = np.concatenate(pooled)
    return EmbeddingResult(
        file=os.fspath(path),
        duration=max(end for _, end in spans),
        clip=window_embeddings.mean(axis=0),
        windows=spans,
        window_embeddings=window_embeddings,
        steps=np.concatenate(steps) if time_steps else None,
        step_times=np.concatenate(times) if time_steps else None,
    )


def write_embeddings(path, results):
    """Writes ``EmbeddingResult`` s to one ``.npz``: ``files``, ``clip``
    ``[files, dim]``; the windows (``window_file`` index, ``window_start``,
    ``window_end`` in seconds, ``window`` ``[windows, dim]``); and, when
    computed, the time steps (``step_file``, ``step_time`` in seconds,
    ``step`` ``[steps, dim]``)."""
    arrays = {
        "files": np.array([r.file for r in results]),
        "clip": np.stack([r.clip for r in results]),
        "window_file": np.concatenate(
            [np.full(len(r.windows), i) for i, r in enumerate(results)]
        ),
        "window_start": np.array(
            [start for r in results for start, _ in r.windows]
        ),
        "window_end": np.array([end for r in results for _, end in r.windows]),
        "window": np.concatenate([r.window_embeddings for r in results]),
    }
    if all(r.steps is not None for r in results):
        arrays["step_file"] = np.concatenate(
            [np.full(len(r.steps), i) for i, r in enumerate(results)]
        )
        arrays["step_time"] = np.concatenate([r.step_times for r in results])
        arrays["step"] = np.concatenate([r.steps for r in results])
    np.savez(path, **arrays)
    return path
