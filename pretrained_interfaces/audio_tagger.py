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
from speechbrain.dataio.encoder import CategoricalEncoder
from speechbrain.inference.interfaces import Pretrained
from speechbrain.utils.data_utils import batch_pad_right

from ast_lobes.audio.fbank import FbankNormalization, KaldiFbank
from ast_lobes.model.pipeline import AudioClassificationPipeline
from ast_lobes.model.precision import set_inference_precision
from ast_lobes.weights.labels import audioset_label_names
from ast_lobes.weights.published import (
    checkpoint_modules,
    default_front_end,
    read_ast_checkpoint,
)
from pretrained_interfaces.archive import tag_stream
from pretrained_interfaces.embeddings import (
    EmbeddingResult,
    pooled_embeddings,
    steps_hop_seconds,
    time_step_embeddings,
)
from pretrained_interfaces.events import (
    EventResult,
    frame_scores,
    has_frame_head,
    median_steps,
    scores_to_events,
)
from pretrained_interfaces.windows import read_window_batches


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


class AudioTagger(Pretrained):
    """Tags audio files with label names and scores.

    Arguments are those of SpeechBrain's ``Pretrained``; use
    ``AudioTagger.from_hparams(source=<exported model folder>)`` or
    ``AudioTagger.from_ast_checkpoint(<published checkpoint>)``.

    Example
    -------
    >>> import torch
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

    def __init__(self, *args, precision="auto", **kwargs):
        super().__init__(*args, **kwargs)
        encoder = self.hparams.label_encoder
        self.label_names = [encoder.ind2lab[i] for i in range(len(encoder))]
        self.multi_label = bool(getattr(self.hparams, "multi_label", True))
        # per-class thresholds calibrated on validation data (multi-label)
        calibrated = getattr(self.hparams, "thresholds", None)
        self.thresholds = (
            np.asarray(calibrated, dtype=np.float32)
            if calibrated is not None and self.multi_label
            else None
        )
        self.sample_rate = self.hparams.sample_rate
        self.pipeline = AudioClassificationPipeline(
            self.mods.compute_features,
            self.mods.mean_var_norm,
            self.mods.embedding_model,
            self.mods.classifier,
        ).eval()
        # ``auto`` waits for the first scores, so that ``set_precision``
        # can still choose another mode; an explicit mode (and its refusal
        # on slow hardware) applies now.
        self.pending_precision = None
        if precision == "auto":
            self.pending_precision = precision
        elif precision is not None:
            self.set_precision(precision)

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
        precision="auto",
    ):
        """Builds a tagger from an encoder and head in memory (the tagger
        converts the encoder in place for ``precision``).

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
        precision : str or None
            Encoder precision (see ``set_precision``; None keeps fp32).

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
            modules=modules,
            hparams=hparams,
            run_opts={"device": device},
            precision=precision,
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
        precision="auto",
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
            precision=precision,
        )

    def use_head(self, head="average"):
        """Which output of a distilled model (``DistillationHead``) the
        scores come from: ``average`` of the two heads (default), ``cls``
        (the head trained on the labels) or ``dist`` (the head trained on
        the teacher). Returns the tagger."""
        classifier = self.mods.classifier
        if not hasattr(classifier, "dist_head"):
            if head == "average":
                return self
            raise ValueError(
                f"--head {head}: this model has one head (it was not "
                "trained with a teacher)"
            )
        if head not in classifier.USES:
            raise ValueError(
                f"head must be one of {classifier.USES}, not {head!r}"
            )
        classifier.use = head
        return self

    def set_precision(self, precision="auto", compile=False, force=False):
        """Runs the encoder in ``precision`` (see
        ``ast_lobes.set_inference_precision``: auto, fp32, bf16,
        bf16-autocast, int8; a mode the hardware runs slower than fp32 is
        refused unless ``force``); the head stays in fp32. A tagger is
        built with ``auto``, applied at its first scores unless this is
        called before. Returns the tagger."""
        set_inference_precision(
            self.mods.embedding_model, precision, compile=compile, force=force
        )
        self.pending_precision = None
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
        if self.pending_precision is not None:
            self.set_precision(self.pending_precision)
        wavs = wavs.to(self.device)
        if wav_lens is not None:
            wav_lens = wav_lens.to(self.device)
        return self.pipeline.scores(wavs, wav_lens, self.multi_label)

    def embed_batch(self, wavs, wav_lens=None, time_steps=False):
        """Embeddings of waveforms at ``sample_rate``: the vector the head
        sees, ``[batch, dim]``; with ``time_steps``, per clip the patch
        tokens averaged over frequency rows and their centre times in
        seconds (a list of ``(steps [time steps, dim], times)``)."""
        if self.pending_precision is not None:
            self.set_precision(self.pending_precision)
        wavs = wavs.to(self.device)
        if wav_lens is not None:
            wav_lens = wav_lens.to(self.device)
        if time_steps:
            return time_step_embeddings(self.pipeline, wavs, wav_lens)
        return pooled_embeddings(self.pipeline, wavs, wav_lens)

    def embed_file(self, path, window=None, hop=None, time_steps=False,
                   batch_size=8):  # fmt: skip
        """Embeddings of one file of any length, window by window, with
        memory that does not grow with the file beyond its outputs.

        Arguments
        ---------
        path : str
            Audio file.
        window, hop : float or None
            Window and hop in seconds (default: the model's window, no
            overlap). With ``time_steps`` the hop is the one that keeps
            the steps evenly spaced across windows.
        time_steps : bool
            Also the per-time-step embeddings and their times.
        batch_size : int
            Windows run together.

        Returns
        -------
        EmbeddingResult
        """
        window = window or self.window_seconds
        hop = steps_hop_seconds(self.pipeline) if time_steps else hop
        hop = hop or window
        min_samples = self.pipeline.compute_features.window_samples
        spans, pooled, steps, times = [], [], [], []

        def run(pending):
            vectors, per_step = self.embed_windows(pending, time_steps)
            pooled.append(vectors)
            for step_vectors, at in per_step:
                steps.append(step_vectors)
                times.append(at)
            spans.extend((start, end) for start, end, _ in pending)

        for batch in read_window_batches(path, self.sample_rate, window, hop,
                                         batch_size, min_samples,
                                         aligned=time_steps):  # fmt: skip
            run(batch)
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

    def detect_events(self, path, threshold=None, median_filter=0.3,
                      resolution="auto", window=None, hop=None,
                      batch_size=8):  # fmt: skip
        """Sound events of one file of any length, window by window.

        Arguments
        ---------
        path : str
            Audio file.
        threshold : float or None
            One threshold for every class; default: the model's calibrated
            per-class thresholds (multi-label exports), else 0.5.
        median_filter : float
            Seconds of the median filter over the active steps.
        resolution : str
            ``frames`` (a ``FrameLevelHead``'s scores per time step),
            ``windows`` (the clip scores of sliding windows) or ``auto``
            (frames when the model has a frame-level head).
        window, hop : float or None
            Windows mode: the window (default the model's) and hop
            (default a quarter window) in seconds.
        batch_size : int
            Windows run together.

        Returns
        -------
        EventResult
        """
        frames = has_frame_head(self.pipeline)
        if resolution == "frames" and not frames:
            raise ValueError(
                "resolution frames needs a model with a frame-level head "
                "(train it with --frame_level attention); use windows"
            )
        if resolution not in ("auto", "frames", "windows"):
            raise ValueError(f"resolution: auto, frames or windows, not "
                             f"{resolution!r}")  # fmt: skip
        frames = frames and resolution != "windows"
        if self.pending_precision is not None:
            self.set_precision(self.pending_precision)
        if frames:
            window = self.window_seconds
            hop = steps_hop_seconds(self.pipeline)
            encoder = self.pipeline.bare_encoder
            step = encoder.tstride * self.pipeline.compute_features.frame_shift
            step /= 1000
        else:
            window = window or self.window_seconds
            hop = step = hop or window / 4
        min_samples = self.pipeline.compute_features.window_samples
        scores, times, ends = [], [], []

        def run(pending):
            wavs, lens = batch_pad_right([wav for _, _, wav in pending])
            if frames:
                for (start, _, _), (rows, at) in zip(
                    pending, frame_scores(self.pipeline, wavs.to(self.device),
                                          lens.to(self.device)),
                    strict=True,
                ):  # fmt: skip
                    scores.append(rows)
                    times.append(at + start)
            else:
                rows = self.scores_batch(wavs, lens).float().cpu().numpy()
                scores.append(rows)
                times.append(np.array([s + window / 2 for s, _, _ in pending]))
            ends.extend(end for _, end, _ in pending)

        for batch in read_window_batches(path, self.sample_rate, window, hop,
                                         batch_size, min_samples,
                                         aligned=True):  # fmt: skip
            run(batch)
        scores, times = np.concatenate(scores), np.concatenate(times)
        if threshold is not None:
            cuts = np.full(scores.shape[1], float(threshold))
        elif self.thresholds is not None:
            cuts = self.thresholds
        else:
            cuts = np.full(scores.shape[1], 0.5)
        events = scores_to_events(
            scores, times, step, cuts, self.label_names,
            median_steps(median_filter, step),
        )  # fmt: skip
        for event in events:  # the last window may reach past the end
            event["offset"] = min(event["offset"], round(max(ends), 3))
        return EventResult(
            file=os.fspath(path), duration=max(ends), events=events,
            times=times, scores=scores,
            resolution="frames" if frames else "windows",
        )  # fmt: skip

    def embed_windows(self, windows, time_steps=False):
        """The pooled embeddings ``[windows, dim]`` of ``(start_s, end_s,
        wav)`` windows run as one batch and, with ``time_steps``, each
        window's ``(steps, times)`` with times from the file's start."""
        wavs, lens = batch_pad_right([wav for _, _, wav in windows])
        if not time_steps:
            return self.embed_batch(wavs, lens).float().cpu().numpy(), []
        if self.pending_precision is not None:
            self.set_precision(self.pending_precision)
        pooled, steps = time_step_embeddings(
            self.pipeline, wavs.to(self.device), lens.to(self.device),
            pooled=True,
        )  # fmt: skip
        per_step = [
            (vectors, at + start)
            for (start, _, _), (vectors, at) in zip(
                windows, steps, strict=True
            )  # fmt: skip
        ]
        return pooled.float().cpu().numpy(), per_step

    def top_tags(self, scores, top_k=5, threshold=None):
        """``(label, score)`` pairs, best first: the ``top_k`` best, and
        only those of at least ``threshold`` when it is given, else (a
        multi-label model exported with calibrated thresholds) only those
        of at least their class's threshold."""
        order = np.argsort(-scores, kind="stable")
        if top_k:
            order = order[:top_k]
        if threshold is not None:
            cuts = np.full(len(scores), threshold)
        elif self.thresholds is not None:
            cuts = self.thresholds
        else:
            cuts = np.full(len(scores), -np.inf)
        return [
            (self.label_names[i], float(scores[i]))
            for i in order
            if scores[i] >= cuts[i]
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
        windows = []
        min_samples = self.pipeline.compute_features.window_samples
        for batch in read_window_batches(path, self.sample_rate, window, hop,
                                         batch_size, min_samples):  # fmt: skip
            windows += self.score_windows(batch)
            if progress is not None:
                progress(len(windows))
        return self.result_of(path, windows, top_k, threshold, aggregate)

    def result_of(
        self, path, windows, top_k=5, threshold=None, aggregate="max"
    ):
        """The ``TaggingResult`` of a file from its scored windows (dicts
        with ``start``, ``end``, ``scores``; tags are added to them)."""
        if aggregate not in ("max", "mean"):
            raise ValueError(f"aggregate must be max or mean, not {aggregate}")
        stacked = np.stack([w["scores"] for w in windows])
        scores = stacked.max(axis=0) if aggregate == "max" else stacked.mean(0)
        for item in windows:
            item["tags"] = self.top_tags(item["scores"], top_k, threshold)
        return TaggingResult(
            file=os.fspath(path),
            duration=max(w["end"] for w in windows),
            scores=scores,
            tags=self.top_tags(scores, top_k, threshold),
            windows=windows,
        )

    def score_windows(self, windows):
        """Scores a list of ``(start, end, wav)`` windows in one batch."""
        batch, lens = batch_pad_right([wav for _, _, wav in windows])
        scores = self.scores_batch(batch, lens).float().cpu().numpy()
        return [
            {"start": start, "end": end, "scores": row}
            for (start, end, _), row in zip(windows, scores, strict=True)
        ]

    def tag_files(self, paths, num_workers=0, **kwargs):
        """Tags several files, batching windows of different files
        together; a bad file does not stop the others.

        Arguments
        ---------
        paths : list of str
            Audio files.
        num_workers : int
            Processes decoding audio ahead of the model (0: this one).
        **kwargs
            ``top_k``, ``threshold``, ``window``, ``hop``, ``batch_size``
            and ``aggregate`` as for ``tag_file``.

        Returns
        -------
        tuple
            ``(results, failures)``: the ``TaggingResult`` of every file
            that could be tagged, in the order of ``paths``, and
            ``(path, message)`` for the others.
        """
        paths = list(dict.fromkeys(os.fspath(p) for p in paths))
        outcomes = {
            path: (result, error)
            for path, result, error in tag_stream(
                self, paths, num_workers=num_workers, **kwargs
            )
        }
        results, failures = [], []
        for path in paths:
            result, error = outcomes[path]
            if error is None:
                results.append(result)
            else:
                failures.append((path, error))
        return results, failures

    def forward(self, wavs, wav_lens=None):
        """Scores ``[batch, n_labels]`` (see ``scores_batch``)."""
        return self.scores_batch(wavs, wav_lens)
