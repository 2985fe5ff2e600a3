"""Windows of audio files longer than a model's window.

A file no longer than the window is one window; a longer one is cut into
windows stepping by a hop, plus one window ending at the file's end, and
each window is read from disk on its own, so memory does not grow with
the file's duration.

Authors
 * AST-SpeechBrain contributors 2026
"""

import torchaudio

from ast_lobes.audio.io import AudioFileError, open_audio, read_frames


def window_starts(n_samples, window, hop, aligned=False):
    """Start samples of the windows covering ``n_samples``.

    Windows step by ``hop``; when the file is longer than a window, one more
    window ending at the file's end covers the remainder, so every window
    is a full one. ``aligned`` keeps every start on the hop grid instead
    (the last window may then be short): time steps stay evenly spaced.

    Example
    -------
    >>> window_starts(25, 10, 10)
    [0, 10, 15]
    >>> window_starts(25, 10, 10, aligned=True)
    [0, 10, 20]
    >>> window_starts(7, 10, 5)
    [0]
    """
    if n_samples <= window:
        return [0]
    if aligned:
        return list(range(0, n_samples - window + hop, hop))
    starts = list(range(0, n_samples - window + 1, hop))
    if starts[-1] + window < n_samples:
        starts.append(n_samples - window)
    return starts


def window_plan(n_samples, rate, window_s, hop_s, aligned=False):
    """``(window, starts)`` in samples for a file of ``n_samples`` at
    ``rate``, with windows and hops given in seconds.

    Example
    -------
    >>> window_plan(25 * 16000, 16000, 10.0, 10.0)
    (160000, [0, 160000, 240000])
    """
    window = max(1, round(window_s * rate))
    hop = max(1, round(hop_s * rate))
    return window, window_starts(n_samples, window, hop, aligned)


def read_windows(path, sample_rate, window_s, hop_s, min_samples=1,
                 aligned=False):  # fmt: skip
    """Yields ``(start_s, end_s, waveform)`` windows of an audio file.

    Each window is read from disk on its own, mixed down and resampled to
    ``sample_rate``; errors name the file, and a window of fewer than
    ``min_samples`` samples (one fbank frame) is one. ``aligned``: see
    ``window_starts``.
    """
    with open_audio(path) as handle:
        rate = handle.samplerate
        window, starts = window_plan(handle.frames, rate, window_s, hop_s,
                                     aligned)  # fmt: skip
        for start in starts:
            wav = read_frames(handle, start, window)
            end = (start + wav.numel()) / rate
            if rate != sample_rate:
                wav = torchaudio.functional.resample(wav, rate, sample_rate)
            if wav.numel() < min_samples:
                raise AudioFileError(
                    f"{path}: {wav.numel()} samples is shorter than one "
                    "25 ms frame"
                )
            yield start / rate, end, wav


def read_window_batches(path, sample_rate, window_s, hop_s, batch_size,
                        min_samples=1, aligned=False):  # fmt: skip
    """``read_windows`` grouped into lists of at most ``batch_size``."""
    batch = []
    for item in read_windows(path, sample_rate, window_s, hop_s, min_samples,
                             aligned):  # fmt: skip
        batch.append(item)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
