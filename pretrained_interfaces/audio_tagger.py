"""Multi-label audio tagging with an AST, for files of any length.

``AudioTagger`` is a SpeechBrain ``Pretrained`` interface: it loads a model
folder exported by this project's recipes (``from_hparams``, or through
SpeechBrain's ``foreign_class`` with the folder's ``custom_interface.py``),
or a published AST checkpoint (``from_ast_checkpoint``: an original
``.pth``, a Hugging Face folder or hub id), and returns per-class scores
(sigmoid for multi-label models, softmax otherwise), the top labels and
per-window scores with timestamps.

Scores come from ``ast_lobes.AudioClassificationPipeline``, the module
training evaluates with: a clip no longer than the model's window is
padded to it as in training; a longer file is read window by window, a
batch of windows at a time, so memory depends on the window batch and not
on the file's duration.

Authors
 * AST-SpeechBrain contributors 2026
"""

import os
from dataclasses import dataclass, field

import numpy as np
import torch
import torchaudio
from speechbrain.dataio.encoder import CategoricalEncoder
from speechbrain.inference.interfaces import Pretrained

from ast_lobes.audio.fbank import FbankNormalization, KaldiFbank
from ast_lobes.audio.io import AudioFileError, open_audio, read_frames
from ast_lobes.model.pipeline import AudioClassificationPipeline
from ast_lobes.model.precision import set_inference_precision
from ast_lobes.weights.labels import audioset_label_names
from ast_lobes.weights.published import (
    checkpoint_modules,
    default_front_end,
    read_ast_checkpoint,
)


@dataclass
class TaggingResult:
    """Tags of one file.

    ``scores`` are the clip-level scores (the maximum, or mean, over the
    windows), ``tags`` the chosen ``(label, score)`` pairs, best first, and
    ``windows`` one dict per window with ``start``, ``end`` (seconds),
    ``scores`` and ``tags``.
    """

    file: str
    duration: float
    scores: np.ndarray
    tags: list
    windows: list = field(default_factory=list)

    def as_dict(self):
        """A JSON-ready view (tags only, no raw score vectors)."""
        return {
            "file": self.file,
            "duration": round(self.duration, 3),
            "tags": [{"label": k, "score": round(v, 4)} for k, v in self.tags],
            "windows": [
                {
                    "start": round(w["start"], 3),
                    "end": round(w["end"], 3),
                    "tags": [
                        {"label": k, "score": round(v, 4)} for k, v in w["tags"]
                    ],
                }
                for w in self.windows
            ],
        }


def window_starts(n_samples, window, hop):
    """Start samples of the windows covering ``n_samples``.

    Windows step by ``hop``; when the file is longer than a window, one more
    window ending at the file's end covers the remainder, so every window
    is a full one.

    Example
    -------
    >>> window_starts(25, 10, 10)
    [0, 10, 15]
    >>> window_starts(7, 10, 5)
    [0]
    """
    if n_samples <= window:
        return [0]
    starts = list(range(0, n_samples - window + 1, hop))
    if starts[-1] + window < n_samples:
        starts.append(n_samples - window)
    return starts


def window_plan(n_samples, rate, window_s, hop_s):
    """``(window, starts)`` in samples for a file of ``n_samples`` at
    ``rate``, with windows and hops given in seconds.

    Example
    -------
    >>> window_plan(25 * 16000, 16000, 10.0, 10.0)
    (160000, [0, 160000, 240000])
    """
    window = max(1, round(window_s * rate))
    hop = max(1, round(hop_s * rate))
    return window, window_starts(n_samples, window, hop)


def read_windows(path, sample_rate, window_s, hop_s):
    """Yields ``(start_s, end_s, waveform)`` windows of an audio file.

    Each window is read from disk on its own, mixed down and resampled to
    ``sample_rate``; errors name the file.
    """
    with open_audio(path) as handle:
        rate = handle.samplerate
        window, starts = window_plan(handle.frames, rate, window_s, hop_s)
        for start in starts:
            wav = read_frames(handle, start, window)
            end = (start + wav.numel()) / rate
            if rate != sample_rate:
                wav = torchaudio.functional.resample(wav, rate, sample_rate)
            yield start / rate, end, wav


class AudioTagger(Pretrained):
    """Tags audio files with label names and scores.

    Arguments are those of SpeechBrain's ``Pretrained``; use
    ``AudioTagger.from_hparams(source=<exported model folder>)`` or
    ``AudioTagger.from_ast_checkpoint(<published checkpoint>)``.

    Example
    -------
    >>> from ast_lobes import AudioClassificationHead
    >>> from ast_lobes import AudioSpectrogramTransformer
    >>> encoder = AudioSpectrogramTransformer(
    ...     model_size=None, embed_dim=32, depth=1, num_heads=2, input_tdim=100)
    >>> tagger = AudioTagger.from_modules(
    ...     encoder, AudioClassificationHead(32, 3), ["a", "b", "c"],
    ...     max_frames=100, normalization="audioset")
    >>> tagger.scores_batch(torch.randn(2, 16000)).shape
    torch.Size([2, 3])
    """

    HPARAMS_NEEDED = ["label_encoder", "sample_rate"]
    MODULES_NEEDED = [
        "compute_features",
        "mean_var_norm",
        "embedding_model",
        "classifier",
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        encoder = self.hparams.label_encoder
        self.label_names = [encoder.ind2lab[i] for i in range(len(encoder))]
        self.multi_label = bool(getattr(self.hparams, "multi_label", True))
        self.sample_rate = self.hparams.sample_rate
        self.pipeline = AudioClassificationPipeline(
            self.mods.compute_features,
            self.mods.mean_var_norm,
            self.mods.embedding_model,
            self.mods.classifier,
        ).eval()

    @classmethod
    def from_modules(
        cls,
        encoder,
        classifier,
        label_names,
        max_frames=1024,
        normalization="audioset",
        multi_label=True,
        sample_rate=16000,
        device="cpu",
    ):
        """Builds a tagger from an encoder and head in memory.

        Arguments
        ---------
        encoder : ast_lobes.AudioSpectrogramTransformer
            The encoder.
        classifier : torch.nn.Module
            The head (``[batch, 1, dim]`` to ``[batch, 1, n_labels]``).
        label_names : list
            One name per output.
        max_frames : int
            Frames of the model's window (longer audio is windowed).
        normalization : str or tuple
            Fbank normalisation preset or ``(mean, std)``.
        multi_label : bool
            Sigmoid scores (True) or softmax (False).
        sample_rate : int
            Sample rate of the front end.
        device : str
            Where the model runs.

        Returns
        -------
        AudioTagger
        """
        label_encoder = CategoricalEncoder()
        label_encoder.update_from_iterable(label_names)
        modules = {
            "compute_features": KaldiFbank(
                sample_rate=sample_rate, target_length=max_frames
            ),
            "mean_var_norm": FbankNormalization(normalization),
            "embedding_model": encoder,
            "classifier": classifier,
        }
        hparams = {
            "label_encoder": label_encoder,
            "sample_rate": sample_rate,
            "multi_label": multi_label,
        }
        return cls(
            modules=modules, hparams=hparams, run_opts={"device": device}
        )

    @classmethod
    def from_ast_checkpoint(
        cls,
        source,
        savedir=None,
        label_names=None,
        max_frames=None,
        normalization=None,
        device="cpu",
    ):
        """Loads a published AST checkpoint (``.pth``, HF folder or hub id).

        Label names come from ``label_names``, else from the checkpoint (a
        Hugging Face ``id2label``, or the registry of published
        checkpoints), else the 527 AudioSet names for an AudioSet-sized
        head. The front end (frames, normalisation) is the checkpoint's
        (registry entry or ``preprocessor_config.json``) unless given.

        Returns
        -------
        AudioTagger
        """
        checkpoint = read_ast_checkpoint(source, savedir=savedir)
        encoder, classifier = checkpoint_modules(checkpoint)
        n_labels = classifier.linear.out_features
        names = label_names or checkpoint.labels
        if names is None and n_labels == 527:
            names = audioset_label_names()
        if names is None:
            names = [f"class_{index}" for index in range(n_labels)]
        if len(names) != n_labels:
            raise ValueError(
                f"{source}: {n_labels} outputs but {len(names)} label names"
            )
        front_end = default_front_end(checkpoint)
        return cls.from_modules(
            encoder,
            classifier,
            names,
            max_frames=max_frames or front_end.target_length,
            normalization=normalization or front_end.normalization,
            multi_label=checkpoint.multi_label,
            sample_rate=front_end.sample_rate,
            device=device,
        )

    def set_precision(self, precision="auto", compile=False, force=False):
        """Runs the encoder in ``precision`` (see
        ``ast_lobes.set_inference_precision``: auto, fp32, bf16,
        bf16-autocast, int8; a mode the hardware runs slower than fp32 is
        refused unless ``force``); the head stays in fp32. Returns the
        tagger."""
        set_inference_precision(
            self.mods.embedding_model, precision, compile=compile, force=force
        )
        return self

    @property
    def max_frames(self):
        """Frames of one model window."""
        return self.pipeline.window_frames

    @property
    def window_seconds(self):
        """Seconds of audio that fill ``max_frames`` frames (25 ms windows):
        10.255 s for 1024 frames."""
        return self.pipeline.window_seconds

    def scores_batch(self, wavs, wav_lens=None):
        """Scores ``[batch, n_labels]`` of waveforms at ``sample_rate``
        (sigmoid for multi-label models, else softmax), through the
        model's ``AudioClassificationPipeline``."""
        wavs = wavs.to(self.device)
        if wav_lens is not None:
            wav_lens = wav_lens.to(self.device)
        return self.pipeline.scores(wavs, wav_lens, self.multi_label)

    def top_tags(self, scores, top_k=5, threshold=None):
        """``(label, score)`` pairs, best first: the ``top_k`` best, and
        only those of at least ``threshold`` when it is given."""
        order = np.argsort(-scores, kind="stable")
        if top_k:
            order = order[:top_k]
        return [
            (self.label_names[i], float(scores[i]))
            for i in order
            if threshold is None or scores[i] >= threshold
        ]

    def tag_file(
        self,
        path,
        top_k=5,
        threshold=None,
        window=None,
        hop=None,
        batch_size=8,
        aggregate="max",
        progress=None,
    ):
        """Tags one file of any length, sample rate and channel count.

        Arguments
        ---------
        path : str
            Audio file (any format libsndfile reads).
        top_k : int or None
            Number of tags to return (None for all).
        threshold : float or None
            Keep only tags scoring at least this.
        window : float or None
            Window in seconds (default: the model's, 10.255 s for AudioSet).
        hop : float or None
            Hop between windows in seconds (default: ``window``).
        batch_size : int
            Windows run together.
        aggregate : str
            Clip-level score from the windows' scores: ``max`` or ``mean``.
        progress : callable or None
            Called with the number of windows done after every batch.

        Returns
        -------
        TaggingResult
        """
        if aggregate not in ("max", "mean"):
            raise ValueError(f"aggregate must be max or mean, not {aggregate}")
        window = window or self.window_seconds
        hop = hop or window
        if window <= 0 or hop <= 0:
            raise ValueError("window and hop must be positive")
        windows, pending = [], []
        duration = 0.0
        fbank = self.pipeline.compute_features
        for start, end, wav in read_windows(
            path, self.sample_rate, window, hop
        ):
            if fbank.num_frames(wav.numel()) < 1:
                raise AudioFileError(
                    f"{path}: {wav.numel()} samples is shorter than one "
                    "25 ms frame"
                )
            duration = max(duration, end)
            pending.append((start, end, wav))
            if len(pending) == batch_size:
                windows += self.score_windows(pending)
                pending = []
                if progress is not None:
                    progress(len(windows))
        if pending:
            windows += self.score_windows(pending)
            if progress is not None:
                progress(len(windows))
        stacked = np.stack([w["scores"] for w in windows])
        scores = stacked.max(axis=0) if aggregate == "max" else stacked.mean(0)
        for item in windows:
            item["tags"] = self.top_tags(item["scores"], top_k, threshold)
        return TaggingResult(
            file=os.fspath(path),
            duration=duration,
            scores=scores,
            tags=self.top_tags(scores, top_k, threshold),
            windows=windows,
        )

    def score_windows(self, windows):
        """Scores a list of ``(start, end, wav)`` windows in one batch."""
        longest = max(wav.numel() for _, _, wav in windows)
        batch = torch.zeros(len(windows), longest)
        for row, (_, _, wav) in enumerate(windows):
            batch[row, : wav.numel()] = wav
        lens = torch.tensor([wav.numel() / longest for _, _, wav in windows])
        scores = self.scores_batch(batch, lens).float().cpu().numpy()
        return [
            {"start": start, "end": end, "scores": row}
            for (start, end, _), row in zip(windows, scores, strict=True)
        ]

    def tag_files(self, paths, **kwargs):
        """Tags several files; a bad file does not stop the others.

        Returns
        -------
        tuple
            ``(results, failures)``: the ``TaggingResult`` of every file
            that could be tagged, and ``(path, message)`` for the others.
        """
        results, failures = [], []
        for path in paths:
            try:
                results.append(self.tag_file(path, **kwargs))
            except (AudioFileError, ValueError) as error:
                failures.append((os.fspath(path), str(error)))
        return results, failures

    def forward(self, wavs, wav_lens=None):
        """Scores ``[batch, n_labels]`` (see ``scores_batch``)."""
        return self.scores_batch(wavs, wav_lens)
