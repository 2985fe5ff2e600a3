"""Sound events (label, onset, offset, score) from a tagger's scores over
time: per time step from a frame-level head (``ast_lobes.FrameLevelHead``)
or per sliding window from any model, thresholded per class and median
filtered.

Authors
 * AST-SpeechBrain contributors 2026
"""

import os
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.ndimage import median_filter
from speechbrain.utils.data_utils import batch_pad_right

from pretrained_interfaces.embeddings import step_centres, steps_hop_seconds
from pretrained_interfaces.windows import read_window_batches

RESOLUTIONS = ("auto", "frames", "windows")


@dataclass
class EventResult:
    """The events of one file, with the scores they come from
    (``times`` in seconds, ``scores`` ``[times, labels]``)."""

    file: str
    duration: float
    events: list = field(default_factory=list)
    times: np.ndarray = None
    scores: np.ndarray = None
    resolution: str = "frames"

    def as_dict(self):
        """The file, its duration and events (for JSON)."""
        return {"file": self.file, "duration": round(self.duration, 3),
                "events": self.events}  # fmt: skip


@torch.no_grad()
def frame_scores(pipeline, wavs, wav_lens=None):
    """Per clip, the frame-level head's sigmoid scores of its own time
    steps and their centre times: a list of ``(scores [steps, labels],
    times [steps])``."""
    feats, frame_lens = pipeline.features(wavs, wav_lens)
    steps = pipeline.encoder(feats, frame_lens)  # time_steps pooling
    scores = pipeline.head.frame_scores(steps).float().cpu().numpy()
    encoder = pipeline.bare_encoder
    shift = pipeline.compute_features.frame_shift
    times = step_centres(encoder, scores.shape[1], shift)
    if wav_lens is None:
        wav_lens = torch.ones(len(wavs))
    samples = torch.round(wav_lens.cpu() * wavs.shape[-1]).tolist()
    ends = np.arange(scores.shape[1]) * encoder.tstride + encoder.patch_size[1]
    out = []
    for clip, n in zip(scores, samples, strict=True):
        frames = pipeline.compute_features.num_frames(int(n))
        keep = max(1, int((ends <= frames).sum()))
        out.append((clip[:keep], times[:keep]))
    return out


def scores_to_events(scores, times, step, thresholds, labels, median=1):
    """Events from scores over time.

    Each class's scores are cut at its threshold (a step is active at or
    above it), the active steps median filtered over ``median`` steps
    (odd; 1 is none), and every run of active steps is an event from half
    a step before its first step to half a step after its last, scored by
    the highest score in it.

    Arguments
    ---------
    scores : numpy.ndarray
        ``[steps, labels]``.
    times : numpy.ndarray
        Centre time of every step (seconds), evenly spaced by ``step``.
    step : float
        Seconds between steps.
    thresholds : numpy.ndarray
        ``[labels]``.
    labels : list of str
        Label names.
    median : int
        Median filter length in steps.

    Returns
    -------
    list of dict
        ``label``, ``onset``, ``offset`` (seconds), ``score``, by onset.

    Example
    -------
    >>> scores = np.array([[0.1], [0.9], [0.8], [0.2], [0.7]])
    >>> times = np.arange(5) * 0.1 + 0.05
    >>> scores_to_events(scores, times, 0.1, np.array([0.5]), ["dog"])
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'label': 'dog', 'onset': 0.1, 'offset': 0.3, 'score': 0.9},
     {'label': 'dog', 'onset': 0.4, 'offset': 0.5, 'score': 0.7}]
    """
    active = scores >= np.asarray(thresholds)[None, :]
    if median > 1:
        active = median_filter(active.astype(np.uint8), size=(median, 1),
                               mode="nearest").astype(bool)  # fmt: skip
    events = []
    for index, label in enumerate(labels):
        column = np.concatenate([[False], active[:, index], [False]])
        changes = np.flatnonzero(np.diff(column.astype(np.int8)))
        for first, stop in zip(changes[::2], changes[1::2], strict=True):
            events.append({
                "label": label,
                "onset": round(max(0.0, float(times[first]) - step / 2), 3),
                "offset": round(float(times[stop - 1]) + step / 2, 3),
                "score": round(float(scores[first:stop, index].max()), 4),
            })  # fmt: skip
    return sorted(events, key=lambda e: (e["onset"], e["label"]))


def median_steps(seconds, step):
    """An odd median filter length covering about ``seconds``.

    Example
    -------
    >>> median_steps(0.3, 0.1), median_steps(0.0, 0.1)
    (3, 1)
    """
    steps = max(1, int(round(seconds / step)))
    return steps if steps % 2 else steps + 1


def event_resolution(pipeline, resolution="auto"):
    """``frames`` or ``windows``: the scores events are read from (``auto``:
    frames when the model has a frame-level head)."""
    if resolution not in RESOLUTIONS:
        raise ValueError(
            f"resolution: auto, frames or windows, not {resolution!r}"
        )
    frames = pipeline.head_kind == "frames"
    if resolution == "frames" and not frames:
        raise ValueError(
            "resolution frames needs a model with a frame-level head "
            "(train it with --frame_level attention); use windows"
        )
    return "frames" if frames and resolution != "windows" else "windows"


def event_windows(tagger, resolution="auto", window=None, hop=None):
    """``(resolution, window, hop, step)`` in seconds of events read from
    ``tagger``'s scores: per time step of a frame-level head (the model's
    window, the hop that keeps the steps evenly spaced, the steps'
    spacing), or per sliding window (``window``, default the model's; hop
    and step ``hop``, default a quarter window)."""
    pipeline = tagger.pipeline
    resolution = event_resolution(pipeline, resolution)
    if resolution == "frames":
        shift = pipeline.compute_features.frame_shift
        step = pipeline.bare_encoder.tstride * shift / 1000
        hop = steps_hop_seconds(pipeline)
        return resolution, tagger.window_seconds, hop, step
    window = window or tagger.window_seconds
    hop = hop or window / 4
    return resolution, window, hop, hop


def detect_events(tagger, path, threshold=None, median_filter=0.3,
                  resolution="auto", window=None, hop=None,
                  batch_size=8):  # fmt: skip
    """Sound events of one file of any length, window by window.

    Arguments
    ---------
    tagger : pretrained_interfaces.AudioTagger
        The model.
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
        Windows mode: the window (default the model's) and hop (default a
        quarter window) in seconds.
    batch_size : int
        Windows run together.

    Returns
    -------
    EventResult
    """
    pipeline = tagger.pipeline
    resolution, window, hop, step = event_windows(
        tagger, resolution, window, hop
    )
    scores, times, ends = [], [], []
    for batch in read_window_batches(path, tagger.sample_rate, window, hop,
                                     batch_size, tagger.min_window_samples,
                                     aligned=True):  # fmt: skip
        wavs, lens = batch_pad_right([wav for _, _, wav in batch])
        if resolution == "frames":
            per_clip = frame_scores(
                pipeline, wavs.to(tagger.device), lens.to(tagger.device)
            )
            for (start, _, _), (rows, at) in zip(batch, per_clip, strict=True):
                scores.append(rows)
                times.append(at + start)
        else:
            rows = tagger.scores_batch(wavs, lens, tagger.pads(window))
            scores.append(rows.float().cpu().numpy())
            times.append(np.array([s + window / 2 for s, _, _ in batch]))
        ends.extend(end for _, end, _ in batch)
    scores, times = np.concatenate(scores), np.concatenate(times)
    events = scores_to_events(
        scores, times, step, tagger.class_thresholds(threshold, default=0.5),
        tagger.label_names, median_steps(median_filter, step),
    )  # fmt: skip
    for event in events:  # the last window may reach past the end
        event["offset"] = min(event["offset"], round(max(ends), 3))
    return EventResult(
        file=os.fspath(path), duration=max(ends), events=events,
        times=times, scores=scores, resolution=resolution,
    )  # fmt: skip
