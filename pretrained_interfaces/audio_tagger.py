"""Multi-label audio tagging with an AST, for files of any length.

``AudioTagger`` is a SpeechBrain ``Pretrained`` interface: it loads a model
folder exported by this project's recipes (``from_hparams``, or through
SpeechBrain's ``foreign_class`` with the folder's ``custom_interface.py``)
or any source ``ast_lobes.weights.sources.load_model_source`` reads
(``from_source``: an exported folder, a published name, an original
``.pth``, a Hugging Face folder or hub id), and returns per-class scores
(sigmoid for multi-label models, softmax otherwise), the top labels and
per-window scores with timestamps. Embeddings and sound events of files
are functions over a tagger (``embeddings.embed_file``,
``events.detect_events``).

The encoder's precision is decided once, when the tagger is built
(``precision``, ``auto`` by default). Scores come from
``ast_lobes.AudioClassificationPipeline``, the module training evaluates
with: a clip no longer than the model's window is padded to it as in
training; a longer file is read window by window, a batch of windows at a
time, so memory depends on the window batch and not on the duration.
Windows shorter than the model's, asked for (``window``), run at their
own frames (``AudioTagger.pads``), in files and live streams alike.

Authors
 * AST-SpeechBrain contributors 2026
"""

import logging
import os
from dataclasses import dataclass, field

import numpy as np
from speechbrain.dataio.encoder import CategoricalEncoder
from speechbrain.inference.interfaces import Pretrained
from speechbrain.utils.data_utils import batch_pad_right

from ast_lobes.audio.fbank import FbankNormalization, KaldiFbank
from ast_lobes.compat.aliases import (
    deprecated_call,
    renamed_attribute,
    renamed_frames_argument,
)
from ast_lobes.inference.agreement import (
    followed_record,
    mode_agreement,
    read_record,
    recorded_merge_rate,
)
from ast_lobes.inference.precision import set_inference_precision
from ast_lobes.model.pipeline import AudioClassificationPipeline
from ast_lobes.weights.files import UnsafeModelFolderError
from ast_lobes.weights.sources import is_project_export, load_model_source
from pretrained_interfaces.archive import tag_stream
from pretrained_interfaces.windows import read_window_batches

logger = logging.getLogger(__name__)


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

    Arguments are those of SpeechBrain's ``Pretrained``, and
    ``precision`` (``auto`` or one of ``ast_lobes.PRECISIONS``: the
    encoder's inference mode, decided here; a mode the hardware runs
    slower than fp32 is refused unless ``force_precision``) and
    ``merge_rate`` (token merging, see ``from_pipeline``). Build it with
    ``AudioTagger.from_source(...)`` (any source
    ``ast_lobes.load_model_source`` reads), ``from_hparams(source=...)``
    (SpeechBrain's convention; an exported folder goes to
    ``from_source``) or, for a pipeline in memory, ``from_pipeline``.

    Example
    -------
    >>> import torch
    >>> from ast_lobes import (AudioClassificationHead,
    ...     AudioClassificationPipeline, AudioSpectrogramTransformer)
    >>> pipeline = AudioClassificationPipeline(
    ...     KaldiFbank(target_length=100), FbankNormalization("audioset"),
    ...     AudioSpectrogramTransformer(model_size=None, embed_dim=32,
    ...         depth=1, num_heads=2, target_length=100),
    ...     AudioClassificationHead(32, 3))
    >>> tagger = AudioTagger.from_pipeline(
    ...     pipeline, ["a", "b", "c"], precision="fp32")
    >>> tagger.scores_batch(torch.randn(2, 16000)).shape
    torch.Size([2, 3])
    >>> tagger.top_tags(np.array([0.2, 0.9, 0.5]), top_k=2)
    [('b', 0.9), ('c', 0.5)]
    """

    HPARAMS_NEEDED = ["label_encoder", "sample_rate"]
    MODULES_NEEDED = [
        "compute_features",
        "mean_var_norm",
        "embedding_model",
        "classifier",
    ]

    def __init__(self, *args, precision="auto", force_precision=False,
                 agreement=None, merge_rate=None, **kwargs):  # fmt: skip
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
        automatic = (precision or "fp32") == "auto" and bool(agreement)
        if merge_rate is None:
            merging = automatic and any(
                recorded_merge_rate(agreement, mode) for mode in agreement
            )
        else:
            merging = bool(merge_rate)
        converted = set_inference_precision(
            self.mods.embedding_model, precision or "fp32",
            force=force_precision,
            agreement=mode_agreement(agreement) if automatic else None,
            merging=merging,
        )  # fmt: skip
        self.precision = converted.precision
        self.pipeline = AudioClassificationPipeline(
            self.mods.compute_features,
            self.mods.mean_var_norm,
            converted,
            self.mods.classifier,
        ).eval()
        rate = recorded_merge_rate(agreement, self.precision)
        if merge_rate is not None:
            self.merge_tokens(merge_rate)
        elif automatic and rate:
            self.merge_tokens(rate)
            logger.info(
                "precision auto: merging tokens at rate %g (its recorded "
                "top-1 agreement with fp32: %.1f %%)", rate,
                100 * agreement[self.precision][rate],
            )  # fmt: skip

    @classmethod
    def from_pipeline(cls, pipeline, label_names, multi_label=True,
                      thresholds=None, device="cpu", precision="auto",
                      force_precision=False, agreement=None,
                      merge_rate=None):  # fmt: skip
        """Builds a tagger over an ``AudioClassificationPipeline`` (its
        encoder is converted in place for ``precision``).

        Arguments
        ---------
        pipeline : ast_lobes.AudioClassificationPipeline
            Front end, scaling, encoder and head.
        label_names : list
            One name per output.
        multi_label : bool
            Sigmoid scores (True) or softmax (False).
        thresholds : array-like or None
            Per-class decision thresholds (multi-label).
        device : str
            Where the model runs.
        precision : str
            ``auto`` or one of ``ast_lobes.PRECISIONS``.
        force_precision : bool
            Run ``precision`` even where the hardware runs it slowly.
        agreement : dict or None
            The model's recorded top-1 agreement with fp32, ``{precision:
            {merge rate: share}}`` (``ast_lobes.inference.agreement``):
            ``auto`` refuses a mode under ``MIN_AGREEMENT`` and merges
            tokens at the largest recorded rate that keeps it.
        merge_rate : float or None
            Merge tokens at this rate (``merge_tokens``; 0: never), in
            place of the recorded one; with ``auto``, a rate above 0 keeps
            to the modes that merge tokens.

        Returns
        -------
        AudioTagger
        """
        label_encoder = CategoricalEncoder()
        label_encoder.update_from_iterable(label_names)
        modules = {
            "compute_features": pipeline.compute_features,
            "mean_var_norm": pipeline.normalize,
            "embedding_model": pipeline.bare_encoder,
            "classifier": pipeline.head,
        }
        hparams = {
            "label_encoder": label_encoder,
            "sample_rate": pipeline.sample_rate,
            "multi_label": multi_label,
            "thresholds": None if thresholds is None else list(thresholds),
        }
        return cls(
            modules=modules,
            hparams=hparams,
            run_opts={"device": device},
            precision=precision,
            force_precision=force_precision,
            agreement=agreement,
            merge_rate=merge_rate,
        )

    @classmethod
    def from_hparams(cls, source, *args, run_opts=None, precision="auto",
                     force_precision=False, trust_code=False,
                     **kwargs):  # fmt: skip
        """SpeechBrain's ``from_hparams``, except that a local folder this
        project exported is read as data (``from_source``: nothing in it
        runs; ``savedir`` and the like are then not needed).

        Any other source (another folder, a hub id) would go to
        SpeechBrain's ``from_hparams``, which builds what its YAML says and
        so can run any code: it is refused with ``UnsafeModelFolderError``
        unless ``trust_code=True``, which hands it to SpeechBrain's."""
        if os.path.isdir(os.fspath(source)) and is_project_export(source):
            device = (run_opts or {}).get("device", "cpu")
            return cls.from_source(
                os.fspath(source), device=device, precision=precision,
                force_precision=force_precision,
            )  # fmt: skip
        if not trust_code:
            raise UnsafeModelFolderError(
                f"{source}: not a model folder this project exported (no "
                "model.json, no hyperparams.yaml of ast_lobes modules); "
                "SpeechBrain's from_hparams would build what its "
                "hyperparams.yaml says, which can run any code: refused "
                "unless you trust it (trust_code=True)"
            )
        return super().from_hparams(
            source, *args, run_opts=run_opts, precision=precision,
            force_precision=force_precision, **kwargs,
        )  # fmt: skip

    @classmethod
    def from_source(cls, source, savedir=None, device="cpu",
                    precision="auto", force_precision=False,
                    merge_rate=None, **published):  # fmt: skip
        """Loads any model ``load_model_source`` reads: an exported folder,
        a published name, an original ``.pth``, a Hugging Face folder or
        hub id (``published``: ``label_names``, ``target_length``,
        ``normalization`` for those; labels it cannot name are
        ``class_<i>``). An exported folder's ``inference_agreement.json``
        (``ast_lobes.inference.agreement``) guides ``auto``: timed on
        this CPU class, its fastest setting that kept the agreement is
        run; otherwise its agreement figures refuse modes and set the
        merge rate. Other arguments as for ``from_pipeline``.

        Returns
        -------
        AudioTagger
        """
        model = load_model_source(
            source, savedir=savedir, unnamed_labels=True, **published
        )
        if not isinstance(model.pipeline, AudioClassificationPipeline):
            raise ValueError(
                f"{source}: a SpeechBrain classifier that is not an AST; "
                "load it with speechbrain's EncoderClassifier"
            )
        agreement = None
        if os.path.isdir(os.fspath(source)):
            record = read_record(source)
            agreement = record and record["agreement"]
            if precision == "auto" and merge_rate is None and record:
                precision, merge_rate = followed_record(record, device)
        return cls.from_pipeline(
            model.pipeline, model.label_names, model.multi_label,
            model.thresholds, device, precision, force_precision,
            agreement, merge_rate,
        )  # fmt: skip

    @classmethod
    def from_modules(cls, encoder, classifier, label_names,
                     target_length=1024, normalization="audioset",
                     multi_label=True, sample_rate=16000, device="cpu",
                     precision="auto", force_precision=False,
                     max_frames=None):  # fmt: skip
        """``from_pipeline`` over the Kaldi fbank of ``target_length``
        frames, the ``normalization`` preset or ``(mean, std)``, the
        encoder and the head, with a deprecation message
        (``ast_lobes.compat``)."""
        deprecated_call("AudioTagger.from_modules")
        target_length = renamed_frames_argument(
            target_length, max_frames, "AudioTagger.from_modules"
        )
        pipeline = AudioClassificationPipeline(
            KaldiFbank(sample_rate=sample_rate, target_length=target_length),
            FbankNormalization(normalization),
            encoder,
            classifier,
        )
        return cls.from_pipeline(
            pipeline, label_names, multi_label, device=device,
            precision=precision, force_precision=force_precision,
        )  # fmt: skip

    @classmethod
    def from_ast_checkpoint(cls, source, savedir=None, label_names=None,
                            target_length=None, normalization=None,
                            device="cpu", precision="auto",
                            force_precision=False,
                            max_frames=None):  # fmt: skip
        """``from_source`` of a published AST, with a deprecation message
        (``ast_lobes.compat``)."""
        deprecated_call("AudioTagger.from_ast_checkpoint")
        target_length = renamed_frames_argument(
            target_length, max_frames, "AudioTagger.from_ast_checkpoint"
        )
        return cls.from_source(
            source, savedir=savedir, device=device, precision=precision,
            force_precision=force_precision, label_names=label_names,
            target_length=target_length, normalization=normalization,
        )  # fmt: skip

    def merge_tokens(self, merge_rate):
        """Merges ``merge_rate`` of the patch tokens away by the encoder's
        last block (token merging, ``ast_lobes.inference.token_merging``):
        faster, and no longer the model's exact scores; measure the top-1
        agreement on your own clips first
        (``python -m pretrained_interfaces.agreement``). 0 turns it
        off. Returns the tagger.

        Example
        -------
        >>> from ast_lobes import (AudioSpectrogramTransformer,
        ...     AudioClassificationHead)
        >>> encoder = AudioSpectrogramTransformer(
        ...     model_size=None, embed_dim=32, depth=2, num_heads=2,
        ...     target_length=100, fstride=16, tstride=10)
        >>> pipeline = AudioClassificationPipeline(
        ...     KaldiFbank(target_length=100), FbankNormalization("audioset"),
        ...     encoder, AudioClassificationHead(32, 3))
        >>> tagger = AudioTagger.from_pipeline(
        ...     pipeline, ["a", "b", "c"], precision="fp32")
        >>> import torch
        >>> clip = torch.randn(1, 16000)
        >>> exact = tagger.scores_batch(clip)
        >>> merged = tagger.merge_tokens(0.3).scores_batch(clip)
        >>> bool((exact - merged).abs().max() > 0)
        True
        """
        self.pipeline.encoder.set_merge_rate(merge_rate)
        return self

    def use_head(self, head="average"):
        """Which output of a distilled model (``DistillationHead``) the
        scores come from: ``average`` of the two heads (default), ``cls``
        (the head trained on the labels) or ``dist`` (the head trained on
        the teacher). Returns the tagger."""
        if self.pipeline.head_kind != "pair":
            if head == "average":
                return self
            raise ValueError(
                f"--head {head}: this model has one head (it was not "
                "trained with a teacher)"
            )
        classifier = self.pipeline.head
        if head not in classifier.USES:
            raise ValueError(
                f"head must be one of {classifier.USES}, not {head!r}"
            )
        classifier.use = head
        return self

    @property
    def target_length(self):
        """Frames of one model window."""
        return self.pipeline.target_length

    @property
    def max_frames(self):
        """``target_length``'s old name (``ast_lobes.compat``)."""
        renamed_attribute("max_frames", "AudioTagger")
        return self.target_length

    @property
    def window_seconds(self):
        """Seconds of audio that fill ``target_length`` frames (25 ms
        windows): 10.255 s for 1024 frames."""
        return self.pipeline.window_seconds

    @property
    def min_window_samples(self):
        """Samples of the shortest window the front end takes."""
        return self.pipeline.compute_features.window_samples

    def pads(self, window):
        """Whether windows of ``window`` seconds (None: the model's) are
        padded to the model's window, as in training: the model's own
        window is, so a file shorter than it scores as in training; a
        shorter window asked for runs at its own frames, so that a 1-s
        window (of a live stream, say) costs what its frames cost, not
        10 s of padding.

        Example
        -------
        >>> from ast_lobes import (AudioSpectrogramTransformer,
        ...     AudioClassificationHead)
        >>> pipeline = AudioClassificationPipeline(
        ...     KaldiFbank(target_length=300), FbankNormalization("audioset"),
        ...     AudioSpectrogramTransformer(model_size=None, embed_dim=32,
        ...         depth=1, num_heads=2, target_length=300),
        ...     AudioClassificationHead(32, 3))
        >>> tagger = AudioTagger.from_pipeline(
        ...     pipeline, ["a", "b", "c"], precision="fp32")
        >>> tagger.window_seconds, tagger.pads(None), tagger.pads(1.0)
        (3.015, True, False)
        """
        return window is None or window >= self.window_seconds

    def scores_batch(self, wavs, wav_lens=None, pad=True):
        """Scores ``[batch, n_labels]`` of waveforms at ``sample_rate``
        (sigmoid for multi-label models, else softmax), through the
        model's ``AudioClassificationPipeline`` (each clip padded to the
        model's window, or with ``pad=False`` at its own frames)."""
        wavs = wavs.to(self.device)
        if wav_lens is not None:
            wav_lens = wav_lens.to(self.device)
        return self.pipeline.scores(wavs, wav_lens, self.multi_label, pad)

    def forward(self, wavs, wav_lens=None):
        """Scores ``[batch, n_labels]`` (see ``scores_batch``)."""
        return self.scores_batch(wavs, wav_lens)

    def class_thresholds(self, threshold=None, default=-np.inf):
        """One decision threshold per class: ``threshold`` for all when it
        is given, else the calibrated per-class thresholds of a
        multi-label export, else ``default``."""
        if threshold is not None:
            return np.full(len(self.label_names), float(threshold))
        if self.thresholds is not None:
            return self.thresholds
        return np.full(len(self.label_names), default)

    def top_tags(self, scores, top_k=5, threshold=None):
        """``(label, score)`` pairs, best first: the ``top_k`` best, and of
        those only the ones at or above their ``class_thresholds``."""
        order = np.argsort(-scores, kind="stable")
        if top_k:
            order = order[:top_k]
        cuts = self.class_thresholds(threshold)
        return [
            (self.label_names[i], float(scores[i]))
            for i in order
            if scores[i] >= cuts[i]
        ]

    def score_windows(self, windows, pad=True):
        """Scores a list of ``(start, end, wav)`` windows in one batch
        (``pad``: see ``scores_batch`` and ``pads``)."""
        batch, lens = batch_pad_right([wav for _, _, wav in windows])
        scores = self.scores_batch(batch, lens, pad).float().cpu().numpy()
        return [
            {"start": start, "end": end, "scores": row}
            for (start, end, _), row in zip(windows, scores, strict=True)
        ]

    def tag_file(self, path, top_k=5, threshold=None, window=None, hop=None,
                 batch_size=8, aggregate="max", progress=None):  # fmt: skip
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
        for batch in read_window_batches(path, self.sample_rate, window, hop,
                                         batch_size,
                                         self.min_window_samples):  # fmt: skip
            windows += self.score_windows(batch, self.pads(window))
            if progress is not None:
                progress(len(windows))
        return self.result_of(path, windows, top_k, threshold, aggregate)

    def result_of(self, path, windows, top_k=5, threshold=None,
                  aggregate="max"):  # fmt: skip
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

    def stream(self, chunks, rate=16000, window=None, hop=None, top_k=5,
               threshold=None):  # fmt: skip
        """Tags audio as it arrives: a generator over ``chunks`` (arrays of
        mono samples at ``rate``, int16 or float, of any size) that yields
        each window as soon as its last sample is in, and the rest of the
        stream when it ends, exactly as ``tag_file`` cuts and scores the
        same audio as a file (``streaming.WindowCutter``).

        Yields
        ------
        dict
            ``start``, ``end`` (seconds from the stream's start),
            ``scores``, ``tags`` and ``end_sample`` (in input samples).
        """
        from pretrained_interfaces.streaming import stream_windows

        return stream_windows(self, chunks, rate, window, hop, top_k,
                              threshold)  # fmt: skip

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
