"""Tagging audio as it arrives: a stream of samples cut into the windows
the file path would cut, each scored as soon as its last sample is in.

``WindowCutter`` keeps only the samples of windows not yet complete, so
memory does not grow with the stream; windows step by the hop as for
files, and at the end of the stream the remainder is one more window
ending at the stream's end, exactly as ``windows.window_starts`` cuts a
file of that length. Each window is resampled on its own to the model's
rate, as ``windows.read_windows`` does, so a stream and the same audio
tagged as a file give the same windows and scores.

Authors
 * AST-SpeechBrain contributors 2026
"""

import time

import numpy as np
import torch
import torchaudio

# Input rates a stream may have (the model's front end resamples them).
MIN_RATE, MAX_RATE = 1000, 384000


class StreamError(ValueError):
    """A stream that cannot be read: its rate or its samples."""


def check_rate(rate):
    """The rate as an int, or ``StreamError`` for one no model can take.

    Example
    -------
    >>> check_rate(16000)
    16000
    >>> check_rate(0)
    Traceback (most recent call last):
    ...
    pretrained_interfaces.streaming.StreamError: --rate 0: expected a ...
    """
    if (
        isinstance(rate, bool)
        or int(rate) != rate
        or not (MIN_RATE <= rate <= MAX_RATE)
    ):
        raise StreamError(
            f"--rate {rate}: expected a whole number of samples per second "
            f"from {MIN_RATE} to {MAX_RATE}"
        )
    return int(rate)


def as_float_samples(chunk):
    """A chunk of mono samples as float32: int16 scaled by 1/32768 (as
    libsndfile reads 16-bit files), floats as they are."""
    chunk = np.asarray(chunk)
    if chunk.ndim != 1:
        raise StreamError(f"a chunk of shape {chunk.shape}: expected mono")
    if chunk.dtype == np.int16:
        return chunk.astype(np.float32) / 32768.0
    return chunk.astype(np.float32, copy=False)


class WindowCutter:
    """Cuts a stream of samples at ``rate`` into windows of ``window_s``
    stepping by ``hop_s`` seconds, resampled to ``target_rate``.

    ``push`` takes the next samples and returns the windows they
    complete; ``finish`` returns the rest at the end of the stream. A
    window is ``(start_s, end_s, wav, end_sample)``, times from the
    stream's start, ``end_sample`` in input samples.

    Example
    -------
    >>> cutter = WindowCutter(1000, 1.0, 1.0, 1000)
    >>> [w[:2] for w in cutter.push(np.zeros(2500, np.float32))]
    [(0.0, 1.0), (1.0, 2.0)]
    >>> [w[:2] for w in cutter.finish()]
    [(1.5, 2.5)]
    """

    def __init__(self, rate, window_s, hop_s, target_rate, aligned=False):
        self.aligned = aligned  # every start on the hop grid (events)
        self.rate = check_rate(rate)
        self.target_rate = int(target_rate)
        self.window = max(1, round(window_s * self.rate))
        self.hop = max(1, round(hop_s * self.rate))
        self.buffer = np.zeros(0, np.float32)
        self.offset = 0  # input sample index of buffer[0]
        self.next_start = 0
        self.received = 0
        self.emitted_end = None  # end sample of the last window out

    def cut(self, start, stop):
        """The window of input samples ``[start, stop)``."""
        samples = self.buffer[start - self.offset : stop - self.offset]
        wav = torch.from_numpy(np.array(samples, dtype=np.float32))
        if self.rate != self.target_rate:
            wav = torchaudio.functional.resample(
                wav, self.rate, self.target_rate
            )
        return start / self.rate, stop / self.rate, wav, stop

    def push(self, chunk):
        """The windows completed by ``chunk``'s samples."""
        samples = as_float_samples(chunk)
        self.buffer = np.concatenate([self.buffer, samples])
        self.received += len(samples)
        out = []
        while self.next_start + self.window <= self.received:
            out.append(self.cut(self.next_start,
                                self.next_start + self.window))  # fmt: skip
            self.emitted_end = self.next_start + self.window
            self.next_start += self.hop
        # the samples of windows not out yet, and the last window's worth
        # for the window ending at the stream's end
        keep_from = min(self.next_start, max(0, self.received - self.window))
        if keep_from > self.offset:
            self.buffer = self.buffer[keep_from - self.offset :]
            self.offset = keep_from
        return out

    def finish(self):
        """The windows the end of the stream leaves: the whole stream when
        it is shorter than a window, else one window ending at its end
        unless the last one did (as ``window_starts`` cuts a file)."""
        n = self.received
        if n == 0:
            return []
        if n <= self.window:
            if self.emitted_end == n:
                return []
            return [self.cut(0, n)]
        if self.aligned:  # as window_starts(aligned=True): short last ones
            out = []
            while self.next_start < n - self.window + self.hop:
                out.append(
                    self.cut(
                        self.next_start, min(self.next_start + self.window, n)
                    )
                )
                self.next_start += self.hop
            return out
        if self.emitted_end is not None and self.emitted_end >= n:
            return []
        return [self.cut(n - self.window, n)]


def stream_windows(tagger, chunks, rate=16000, window=None, hop=None,
                   top_k=5, threshold=None):  # fmt: skip
    """Window results of a stream of chunks, each as soon as it is
    complete (see ``AudioTagger.stream``): dicts with ``start``, ``end``
    (seconds), ``scores``, ``tags``, ``end_sample`` and ``seconds`` (the
    time its scoring took)."""
    window = window or tagger.window_seconds
    hop = hop or window
    if window <= 0 or hop <= 0:
        raise ValueError("window and hop must be positive")
    cutter = WindowCutter(rate, window, hop, tagger.sample_rate)
    pad = tagger.pads(window)  # a shorter window runs at its own frames

    def scored(windows):
        for start, end, wav, end_sample in windows:
            if wav.numel() < tagger.min_window_samples:
                raise StreamError(
                    f"the stream's last {end - start:.3f} s is shorter than "
                    "one 25 ms frame"
                )
            started = time.perf_counter()
            [item] = tagger.score_windows([(start, end, wav)], pad)
            item["tags"] = tagger.top_tags(item["scores"], top_k, threshold)
            item["end_sample"] = end_sample
            item["seconds"] = time.perf_counter() - started  # scoring
            yield item

    for chunk in chunks:
        yield from scored(cutter.push(chunk))
    yield from scored(cutter.finish())


def window_record(item):
    """The JSON line of one window, with the fields and rounding of a
    window in ``ast-tag``'s JSONL output of files."""
    return {
        "start": round(item["start"], 3),
        "end": round(item["end"], 3),
        "tags": [
            {"label": label, "score": round(score, 4)}
            for label, score in item["tags"]
        ],
    }


def pcm_chunks(source, clock=time.perf_counter, block=1 << 14):
    """Chunks of int16 samples from a binary stream of signed 16-bit
    little-endian mono PCM, each as soon as it is read (``read1``: what has
    arrived, without waiting for a full block).

    The generator's ``state`` dict holds ``first_read`` and ``last_read``
    (clock times of the first bytes and of the latest chunk, or of the end
    of input) and ``odd_byte`` (the stream ended with half a sample)."""
    state = {"first_read": None, "last_read": None, "odd_byte": False}

    def chunks():
        read = getattr(source, "read1", source.read)
        leftover = b""
        while True:
            data = read(block)
            now = clock()
            if not data:
                break
            if state["first_read"] is None:
                state["first_read"] = now
            data = leftover + data
            whole = len(data) - len(data) % 2
            leftover = data[whole:]
            if whole:
                state["last_read"] = now
                yield np.frombuffer(data[:whole], dtype="<i2")
        state["last_read"] = clock()
        state["odd_byte"] = bool(leftover)

    return chunks(), state


class EventTracker:
    """Sound events of scores over time as the scores arrive, equal to
    ``events.scores_to_events`` over the whole sequence.

    Each class's scores are cut at its threshold and median filtered over
    ``median`` steps (odd), with the ends padded by their nearest step as
    in ``scipy.ndimage.median_filter(mode="nearest")``; a step's filtered
    value is known ``median // 2`` steps later, so an event is reported
    that many steps after its last active step (``delay_steps``).

    Example
    -------
    >>> tracker = EventTracker(np.array([0.5]), ["dog"], step=0.1)
    >>> times = np.arange(5) * 0.1 + 0.05
    >>> scores = np.array([[0.1], [0.9], [0.8], [0.2], [0.7]])
    >>> tracker.push(times[:4], scores[:4])
    [{'label': 'dog', 'onset': 0.1, 'offset': 0.3, 'score': 0.9}]
    >>> tracker.push(times[4:], scores[4:])
    []
    >>> tracker.finish(0.5)
    [{'label': 'dog', 'onset': 0.4, 'offset': 0.5, 'score': 0.7}]
    """

    def __init__(self, thresholds, labels, step, median=1):
        self.thresholds = np.asarray(thresholds)
        self.labels = list(labels)
        self.step = float(step)
        self.half = max(0, int(median) // 2)
        self.times = []
        self.scores = []
        self.active = []
        self.done = 0  # steps whose filtered value is decided
        self.open = {}  # class index -> first step of its running event

    @property
    def delay_steps(self):
        """Steps between an event's last active step and its report."""
        return self.half

    def filtered(self, index):
        """The median-filtered activity of step ``index`` (its
        neighbours clamped to the steps there are)."""
        last = len(self.active) - 1
        rows = [
            self.active[min(max(j, 0), last)]
            for j in range(index - self.half, index + self.half + 1)
        ]
        return np.sum(rows, axis=0) > self.half

    def event(self, index, first, stop):
        """The event of class ``index`` over steps ``[first, stop)``."""
        return {
            "label": self.labels[index],
            "onset": round(max(0.0, float(self.times[first])
                               - self.step / 2), 3),
            "offset": round(float(self.times[stop - 1]) + self.step / 2, 3),
            "score": round(float(max(row[index]
                                     for row in self.scores[first:stop])),
                           4),
        }  # fmt: skip

    def advance(self, until):
        """Decides the filtered steps before ``until``; the events they
        end."""
        ended = []
        for step in range(self.done, until):
            on = self.filtered(step)
            for index in range(len(self.labels)):
                if on[index] and index not in self.open:
                    self.open[index] = step
                elif not on[index] and index in self.open:
                    ended.append(self.event(index, self.open.pop(index),
                                            step))  # fmt: skip
        self.done = max(self.done, until)
        return sorted(ended, key=lambda e: (e["onset"], e["label"]))

    def push(self, times, scores):
        """Takes the next steps' centre times and scores ``[steps,
        labels]``; returns the events that have ended."""
        for at, row in zip(times, scores, strict=True):
            self.times.append(float(at))
            self.scores.append(np.asarray(row))
            self.active.append(np.asarray(row) >= self.thresholds)
        return self.advance(len(self.active) - self.half)

    def finish(self, end=None):
        """The events left at the end of the stream (offsets cut at
        ``end``, the stream's end in seconds, as for files)."""
        events = self.advance(len(self.active))
        for index, first in sorted(self.open.items()):
            events.append(self.event(index, first, len(self.active)))
        self.open = {}
        if end is not None:
            for event in events:
                event["offset"] = min(event["offset"], round(end, 3))
        return sorted(events, key=lambda e: (e["onset"], e["label"]))


def stream_events(tagger, chunks, rate=16000, threshold=None,
                  median_filter=0.3, resolution="auto", window=None,
                  hop=None):  # fmt: skip
    """Sound events of a stream as they end, equal to
    ``events.detect_events`` on the same audio as a file: per time step
    with a frame-level head, else per sliding window (hop a quarter
    window by default), cut at the class thresholds and median filtered.
    Yields event dicts (``label``, ``onset``, ``offset``, ``score``), each
    ``EventTracker.delay_steps`` steps after its last active step, and the
    events still open when the stream ends."""
    from pretrained_interfaces.events import (
        event_windows,
        frame_scores,
        median_steps,
    )

    pipeline = tagger.pipeline
    resolution, window, hop, step = event_windows(
        tagger, resolution, window, hop
    )
    frames = resolution == "frames"
    tracker = EventTracker(
        tagger.class_thresholds(threshold, default=0.5), tagger.label_names,
        step, median_steps(median_filter, step),
    )  # fmt: skip
    cutter = WindowCutter(rate, window, hop, tagger.sample_rate, aligned=True)
    pad = tagger.pads(window)
    last_end = 0.0

    def steps_of(windows):
        nonlocal last_end
        for start, end, wav, _ in windows:
            last_end = max(last_end, end)
            if frames:
                [(rows, at)] = frame_scores(
                    pipeline, wav[None].to(tagger.device),
                    torch.ones(1, device=tagger.device),
                )  # fmt: skip
                yield from tracker.push(at + start, rows)
            else:
                rows = tagger.scores_batch(wav[None], pad=pad)
                rows = rows.float().cpu().numpy()
                yield from tracker.push([start + window / 2], rows)

    for chunk in chunks:
        yield from steps_of(cutter.push(chunk))
    yield from steps_of(cutter.finish())
    yield from tracker.finish(last_end)
