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

    def __init__(self, rate, window_s, hop_s, target_rate):
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

    def scored(windows):
        for start, end, wav, end_sample in windows:
            if wav.numel() < tagger.min_window_samples:
                raise StreamError(
                    f"the stream's last {end - start:.3f} s is shorter than "
                    "one 25 ms frame"
                )
            started = time.perf_counter()
            [item] = tagger.score_windows([(start, end, wav)])
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
