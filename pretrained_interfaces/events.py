"""Sound events (label, onset, offset, score) from a tagger's scores over
time: per time step from a frame-level head (``ast_lobes.FrameLevelHead``)
or per sliding window from any model, thresholded per class and median
filtered.

Authors
 * AST-SpeechBrain contributors 2026
"""

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.ndimage import median_filter

from pretrained_interfaces.embeddings import step_centres


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


def has_frame_head(pipeline):
    """Whether the model scores time steps (a ``FrameLevelHead``)."""
    head = getattr(pipeline.classifier, "module", pipeline.classifier)
    return hasattr(head, "frame_scores")


@torch.no_grad()
def frame_scores(pipeline, wavs, wav_lens=None):
    """Per clip, the frame-level head's sigmoid scores of its own time
    steps and their centre times: a list of ``(scores [steps, labels],
    times [steps])``."""
    feats, frame_lens = pipeline.features(wavs, wav_lens)
    steps = pipeline.encoder(feats, frame_lens)  # time_steps pooling
    head = getattr(pipeline.classifier, "module", pipeline.classifier)
    scores = head.frame_scores(steps).float().cpu().numpy()
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
